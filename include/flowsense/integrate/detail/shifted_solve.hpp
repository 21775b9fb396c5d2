#pragma once
// The linear algebra of the implicit steppers (rosenbrock.hpp, bdf.hpp): both
// solve (I - s W) u = r, W a Jacobian frozen at some state and s = gamma h
// (Rosenbrock) or c h (BDF), either with a dense W (the system's closed form
// or assembled from Jacobian-vector products) LU-factored, or matrix-free
// with GMRES.
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <Eigen/LU>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/gmres.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense::detail {

/// True when a state with n entries gets a dense Jacobian (dense_jacobian()
/// below, LU-factored) rather than GMRES: n <= stiff.dense_max_size.
inline bool uses_dense_jacobian(Index n, const StiffOptions& stiff) { return n <= stiff.dense_max_size; }

/// J(x) column by column: n products jac(e_k) for a state with n entries.
template <class Jacobian>
void assemble_jacobian(const Jacobian& jac, const Matrix& x, Matrix& J) {
  const Index n = x.size();
  J.resize(n, n);
  Matrix E = Matrix::Zero(x.rows(), x.cols()), col;
  for (Index k = 0; k < n; ++k) {
    E(k) = 1.0;
    jac(E, col);
    J.col(k) = Eigen::Map<const Vector>(col.data(), n);
    E(k) = 0.0;
  }
}

/// The dense J(x) of the implicit steppers' dense path: the system's
/// dense_jacobian() if it has one (FactorFlow: the cost of 6-7 right-hand
/// sides at Example 1.1's reduced state, where n = 60 products cost ~120),
/// else n Jacobian-vector
/// products in the preference order of jacobian.hpp, counted in
/// *jvp_counter. Counts stats->jacobians, and stats->analytic_jacobians for
/// the closed form, which computes no products and so adds nothing to
/// *jvp_counter (docs/steppers.md, "How the dense Jacobian is obtained").
template <class System>
void dense_jacobian(System& system, const Matrix& x, Matrix& J, std::uint64_t* jvp_counter,
                    StiffStats* stats) {
  if constexpr (has_dense_jacobian<System>()) {
    system.dense_jacobian(x, J);
    if (stats) ++stats->analytic_jacobians;
  } else {
    assemble_jacobian(FrozenJacobian<System>(system, x, jvp_counter), x, J);
  }
  if (stats) ++stats->jacobians;
}

/// u = lu^-1 r with lu the factored I - s J; false (reason set) if the
/// result is not finite, i.e. the matrix is singular at this step.
inline bool solve_dense_shifted(const Eigen::PartialPivLU<Matrix>& lu, const Matrix& r, Matrix& u,
                                const std::string& matrix_name, std::string& reason) {
  Vector sol = lu.solve(Eigen::Map<const Vector>(r.data(), r.size()));
  if (!sol.allFinite()) {
    reason = "the dense " + matrix_name + " is singular at this step";
    return false;
  }
  u = Eigen::Map<const Matrix>(sol.data(), r.rows(), r.cols());
  return true;
}

/// No preconditioner (the type solve_krylov_shifted defaults to).
struct NoPreconditioner {
  void operator()(double, const Matrix& V, Matrix& out) const { out = V; }
  std::uint64_t factorizations() const { return 0; }
};

/// The preconditioner type of a system (NoPreconditioner if it has none).
template <class System>
auto preconditioner_type() {
  if constexpr (has_preconditioner<System>())
    return std::type_identity<decltype(std::declval<const System&>().preconditioner(std::declval<const Matrix&>()))>{};
  else
    return std::type_identity<NoPreconditioner>{};
}
template <class System>
using PreconditionerOf = typename decltype(preconditioner_type<System>())::type;

/// Whether bdf's GMRES on a state with n entries uses the system's
/// preconditioner, and why (for the summary).
struct PreconditionerChoice {
  bool use = false;       ///< from the start (woodbury)
  bool eligible = false;  ///< auto: switched on once the solves get expensive (bdf.hpp)
  std::string why;
};

/// auto: the mean GMRES iterations per Newton solve under one frozen
/// Jacobian above which bdf switches the Woodbury preconditioner on. A
/// preconditioned solve costs ~1.2 iterations of ~1.5 products each (an
/// application and the fused product, gauss_newton_inverse.hpp) plus the
/// build (~60 products at Example 1.1's m = 240, d p = 900) and Cholesky
/// factorizations (~7 products each) spread over the solves of a Jacobian's
/// life: ~3 products per solve. Measured on the rank-30 benchmark problems
/// (docs/steppers.md): the unpreconditioned solves take 1.0-2.0 iterations
/// until the converged tail, then 3-65.
inline constexpr double preconditioner_switch_iterations = 3.0;

template <class System>
PreconditionerChoice choose_preconditioner(const System& system, Index n, const StiffOptions& stiff) {
  PreconditionerChoice c;
  if (stiff.preconditioner == Preconditioner::none) return c;
  if constexpr (!has_preconditioner<System>()) {
    // Said only when asked for explicitly (auto is the default for every system).
    if (stiff.preconditioner == Preconditioner::woodbury) c.why = "no preconditioner (the system has none)";
    return c;
  } else {
    const Index m = system.preconditioner_size();
    std::ostringstream s;
    if (stiff.preconditioner == Preconditioner::woodbury) {
      c.use = true;
      s << "Woodbury preconditioner (m = " << m << ", n = " << n << ")";
    } else if (2 * m <= n) {
      c.eligible = true;
      s << "auto: Woodbury preconditioner (m = " << m << " <= n / 2 = " << n / 2
        << ") once a Jacobian's GMRES solves average > " << preconditioner_switch_iterations << " iterations";
    } else {
      s << "auto: no preconditioner (m = " << m << " > n / 2 = " << n / 2 << ")";
    }
    c.why = s.str();
    return c;
  }
}

/// True when a preconditioner fuses its application with the product by
/// N = I - s W (GaussNewtonInverse::solve_apply).
template <class Prec>
constexpr bool has_solve_apply() {
  return requires(const Prec& p, const Matrix& y, Matrix& q) { p.solve_apply(0.0, y, q, q); };
}

/// (I - s W) u = r by GMRES with W applied by jac(V, out), in the variables
/// z = u / w with w the error weights (atol + rtol |x|): the residual is then
/// measured in the units of the error test and GMRES stops when it is below
/// stiff.krylov_tolerance. Returns false (reason set, stats->krylov_failures
/// counted) if it does not get there within stiff.krylov_max_iterations;
/// *iterations gets the iterations spent either way.
///
/// With a preconditioner prec (prec(s, V, out) ~ (I - s W)^-1 V), GMRES is
/// right-preconditioned, in its flexible form (gmres.hpp): it solves
/// (D^-1 N P^-1 D) y = D^-1 r with N = I - s W, D = diag(w), and
/// u = P^-1 D y is accumulated from the P^-1 D v_k it has already computed.
/// Right preconditioning keeps the residual GMRES minimizes that of the
/// weighted system, so the stopping rule means the same with and without.
/// Each iteration costs one application of P^-1 and one product with N,
/// fused into prec.solve_apply where the preconditioner has it
/// (gauss_newton_inverse.hpp: about one product for both).
template <class Jacobian, class Prec = NoPreconditioner>
bool solve_krylov_shifted(const Jacobian& jac, const Matrix& w, double s, const Matrix& r, Matrix& u,
                          const StiffOptions& stiff, StiffStats* stats, std::string& reason,
                          int* iterations = nullptr, const Prec* prec = nullptr) {
  auto op = [&](const Matrix& z, Matrix& out) {
    const Matrix v = z.cwiseProduct(w);
    Matrix jv;
    jac(v, jv);
    out = (v - s * jv).cwiseQuotient(w);
  };
  std::uint64_t applications = 0;
  // z_k = D^-1 P^-1 D v_k and out = D^-1 N P^-1 D v_k.
  auto prec_op = [&](const Matrix& v, Matrix& z, Matrix& out) {
    const Matrix y = v.cwiseProduct(w);
    Matrix q, nq;
    if constexpr (has_solve_apply<Prec>()) {
      prec->solve_apply(s, y, q, nq);
    } else {
      (*prec)(s, y, q);
      jac(q, nq);
      nq = q - s * nq;
    }
    ++applications;
    z = q.cwiseQuotient(w);
    out = nq.cwiseQuotient(w);
  };
  const Matrix b = r.cwiseQuotient(w);
  Matrix z = Matrix::Zero(r.rows(), r.cols());
  const auto res = flexible_gmres(op, prec ? &prec_op : nullptr, b, z, stiff.krylov_tolerance, stiff.krylov_restart,
                                  stiff.krylov_max_iterations);
  if (stats) {
    stats->krylov_iterations += static_cast<std::uint64_t>(res.iterations);
    stats->preconditioner_applications += applications;
  }
  if (iterations) *iterations = res.iterations;
  if (!res.converged || !z.allFinite()) {
    if (stats) ++stats->krylov_failures;
    std::ostringstream m;
    m << "GMRES did not reach the weighted residual " << stiff.krylov_tolerance << " in " << res.iterations
      << " iterations (residual " << res.residual << ")";
    reason = m.str();
    return false;
  }
  u = z.cwiseProduct(w);
  return true;
}

}  // namespace flowsense::detail
