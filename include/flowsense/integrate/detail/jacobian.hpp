#pragma once
// How the stiff steppers (rkc.hpp, rosenbrock.hpp, bdf.hpp,
// auto_stepper.hpp) reach a system's Jacobian J = d(rhs)/dx at a frozen
// state x.
//
// In order of preference:
//   1. system.linearize(x) -> callable lin(V, out)  (FactorFlow, GramFlow:
//      the residual's adjoint is computed once per state, not per product);
//   2. system.jacobian_vector(x, V, out);
//   3. a forward difference (rhs(x + e V) - rhs(x)) / e, for systems of your
//      own that give neither (first order in e; adequate for spectral-radius
//      estimates and, since ROS34PW2 is a W-method, for its linear solves).
//
// For the dense matrix of the implicit steppers (shifted_solve.hpp), a
// system's dense_jacobian(x, J) in closed form (FactorFlow) comes first,
// then n products by the order above.
//
// A system may declare `static constexpr bool symmetric_jacobian = true`
// (FactorFlow: J = -H with H the Hessian of G_c); the steppers then use
// Lanczos for its extreme eigenvalues. Without it they assume nothing and
// use power iteration and GMRES.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>

#include "flowsense/core/types.hpp"

namespace flowsense::detail {

/// True when the system gives its whole Jacobian in closed form,
/// system.dense_jacobian(x, J) with J the n x n matrix on vec(x)
/// (column-major): FactorFlow (and LogTimeSystem over it). The implicit
/// steppers' dense path prefers it to n products (shifted_solve.hpp);
/// GramFlow and BatchFactorFlow do not have it.
template <class System>
constexpr bool has_dense_jacobian() {
  return requires(const System& s, const Matrix& x, Matrix& J) { s.dense_jacobian(x, J); };
}

/// True when the system gives a preconditioner for the implicit steppers'
/// GMRES: system.preconditioner(x) -> prec with prec(sigma, V, out) ~ (I -
/// sigma J(x))^-1 V for any sigma >= 0 and prec.factorizations(), optionally
/// prec.solve_apply(sigma, Y, Q, NQ) (Q = prec(sigma, Y), NQ = (I - sigma
/// J(x)) Q, fused where that is cheaper than a product), prec.rebuild(x)
/// (the same at another state, reusing its memory), and
/// system.preconditioner_size(), the order of the system it factors (the
/// cost rule of StiffOptions::preconditioner). FactorFlow (Woodbury on its
/// Gauss-Newton part, flow/gauss_newton_inverse.hpp) and LogTimeSystem over it.
template <class System>
constexpr bool has_preconditioner() {
  return requires(const System& s, const Matrix& x) {
    s.preconditioner(x);
    { s.preconditioner_size() } -> std::convertible_to<Index>;
  };
}

/// A preconditioner for a system whose Jacobian is scale * J (log time):
/// (I - sigma scale J)^-1 is the inner one at shift sigma * scale, the scale
/// read at each application.
template <class Inner>
struct ScaledPreconditioner {
  Inner inner;
  const double* scale;
  void operator()(double sigma, const Matrix& V, Matrix& out) const { inner(sigma * *scale, V, out); }
  void solve_apply(double sigma, const Matrix& Y, Matrix& Q, Matrix& NQ) const
    requires requires(const Inner& p, Matrix& m) { p.solve_apply(0.0, m, m, m); }
  {
    inner.solve_apply(sigma * *scale, Y, Q, NQ);
  }
  std::uint64_t factorizations() const { return inner.factorizations(); }
  void rebuild(const Matrix& x) { inner.rebuild(x); }
};

template <class System>
constexpr bool has_symmetric_jacobian() {
  if constexpr (requires { System::symmetric_jacobian; })
    return System::symmetric_jacobian;
  else
    return false;
}

/// The Jacobian of `system` at a frozen state: jac(V, out) sets out = J(x)[V]
/// and counts one product in *counter (if given).
template <class System>
class FrozenJacobian {
public:
  FrozenJacobian(System& system, const Matrix& x, std::uint64_t* counter)
      : system_(&system), counter_(counter) {
    if constexpr (requires { system.linearize(x); }) {
      auto lin = system.linearize(x);
      apply_ = [lin = std::move(lin)](const Matrix& V, Matrix& out) { lin(V, out); };
    } else if constexpr (requires(Matrix out) { system.jacobian_vector(x, x, out); }) {
      apply_ = [sys = system_, x](const Matrix& V, Matrix& out) { sys->jacobian_vector(x, V, out); };
    } else {
      // Forward difference: e = sqrt(u) * (1 + ||x||) / ||V|| balances the
      // O(e) truncation against the O(u / e) rounding error.
      Matrix fx(x.rows(), x.cols());
      (*system_)(x, fx, 0.0);
      apply_ = [sys = system_, x, fx](const Matrix& V, Matrix& out) {
        const double nv = V.norm();
        if (nv == 0) {
          out.setZero(x.rows(), x.cols());
          return;
        }
        const double e =
            std::sqrt(std::numeric_limits<double>::epsilon()) * (1.0 + x.norm()) / nv;
        const Matrix xe = x + e * V;
        out.resize(x.rows(), x.cols());
        (*sys)(xe, out, 0.0);
        out = (out - fx) / e;
      };
    }
  }

  void operator()(const Matrix& V, Matrix& out) const {
    if (counter_) ++*counter_;
    apply_(V, out);
  }

private:
  System* system_;
  std::uint64_t* counter_;
  std::function<void(const Matrix&, Matrix&)> apply_;
};

/// max_i |e_i| / (atol + rtol * max(|x_i|, |y_i|)): the error norm of the
/// step control, the same maximum norm odeint's controlled steppers use, so
/// that rtol/atol mean the same for every stepper. NaN if e is not finite.
inline double weighted_max_norm(const Matrix& e, const Matrix& x, const Matrix& y, double rtol,
                                double atol) {
  // A floor on the weight keeps 0/0 out when atol = 0 and an entry is 0.
  const auto w = (atol + rtol * x.cwiseAbs().cwiseMax(y.cwiseAbs()).array())
                     .max(std::numeric_limits<double>::min());
  const double n = (e.cwiseAbs().array() / w).maxCoeff();
  return std::isfinite(n) ? n : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace flowsense::detail
