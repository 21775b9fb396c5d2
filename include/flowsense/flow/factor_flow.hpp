#pragma once
// The factor flow U' = -grad G_c(U) = -2c A*(A(UU^T) - b) U  (paper 000 (flow),
// paper 003 (3) as h -> 0), as an odeint system: flow(U, dUdt, t).
//
// The same class integrates the exact reduced flow L' = -grad G_c(L) on a
// d x r0 state (DESIGN.md: U(t) = L(t) R^T when U(0) = L(0) R^T), because the
// loss never looks at the width of its argument.
//
// jacobian_vector() gives J[V] = -H(U)[V], the Jacobian-vector product that
// stiff and stabilized steppers need; the Jacobian of a gradient flow is
// symmetric, so its spectrum is real. dense_jacobian() gives the whole J in
// closed form for the implicit steppers' dense path (small, e.g. reduced,
// states).
#include <atomic>
#include <cstdint>

#include "flowsense/flow/gauss_newton_inverse.hpp"
#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

class FactorFlow {
public:
  explicit FactorFlow(SensingLoss loss) : loss_(std::move(loss)) {}

  /// dUdt = -grad G_c(U). Counts right-hand-side evaluations.
  void operator()(const Matrix& U, Matrix& dUdt, double /*t*/) const {
    loss_.gradient(U, dUdt);
    dUdt = -dUdt;
    ++evaluations_;
  }

  /// out = -H(U)[V].
  void jacobian_vector(const Matrix& U, const Matrix& V, Matrix& out) const {
    loss_.hessian_vector(U, V, out);
    out = -out;
  }

  /// J = -H(U) as a dense (d p) x (d p) matrix on vec(U) (column-major, the
  /// Eigen Map of a d x p matrix), for the stiff steppers' dense path
  /// (integrate/detail/shifted_solve.hpp prefers it to n Jacobian-vector
  /// products). With Jr the residual's Jacobian (SensingLoss::residual_jacobian),
  /// Jr vec(V) = A(U V^T + V U^T) and Jr^T y = 2 vec(A*(y) U), so
  ///   A*(A(U V^T + V U^T)) U = (1/2) Jr^T Jr vec(V),
  ///   J = -2c ( (1/2) Jr^T Jr + I_p kron S ) = -c Jr^T Jr - 2c (I_p kron S),
  /// S = A*(r(U)) (vec(S V) = (I_p kron S) vec(V)). Cost with a packed
  /// operator: Jr in 2 m d^2 p flops, Jr^T Jr in m (d p)^2 (a symmetric
  /// rank-m update), S as in one right-hand side; at Example 1.1's reduced
  /// state (d = 30, p = 2, m = 240) ~2 MFLOP, against 60 products of ~0.45
  /// MFLOP each for the column-by-column assembly. Equal to that assembly up
  /// to rounding (tests/test_dense_jacobian.cpp).
  void dense_jacobian(const Matrix& U, Matrix& J) const {
    const Index d = U.rows(), n = U.size();
    const double c = loss_.c();
    Matrix Jr, S;
    loss_.residual_jacobian(U, Jr);
    loss_.residual_adjoint(U, S);
    J.setZero(n, n);
    J.selfadjointView<Eigen::Lower>().rankUpdate(Jr.transpose(), -c);
    J.triangularView<Eigen::StrictlyUpper>() = J.transpose();
    for (Index j = 0; j < U.cols(); ++j) J.block(d * j, d * j, d, d) -= (2.0 * c) * S;
  }

  /// J = -H(U) is symmetric in the Frobenius inner product (a gradient flow):
  /// stiff steppers may use Lanczos and read its spectrum as real.
  static constexpr bool symmetric_jacobian = true;

  /// The Jacobian frozen at U, for steppers that apply it many times
  /// (Lanczos, Krylov solves, dense assembly). It keeps S = A*(r(U)), so that
  ///   J[V] = -2c ( A*(A(U V^T + V U^T)) U + S V )
  /// costs one operator application and one adjoint, where jacobian_vector
  /// recomputes the residual and its adjoint every time. Equal to
  /// jacobian_vector(U, V, .) up to rounding.
  class Linearization {
  public:
    Linearization(const SensingLoss& loss, const Matrix& U) : loss_(&loss), U_(U) {
      loss.residual_adjoint(U, S_);
    }
    void operator()(const Matrix& V, Matrix& out) const {
      Matrix sym;
      sym.noalias() = U_ * V.transpose();
      const Matrix W = sym + sym.transpose();  // U V^T + V U^T
      loss_->normal_apply_times(W, U_, out);  // Q form when the loss uses it
      out.noalias() += S_ * V;
      out *= -2.0 * loss_->c();
    }

  private:
    const SensingLoss* loss_;
    Matrix U_;
    Matrix S_;
  };
  Linearization linearize(const Matrix& U) const { return Linearization(loss_, U); }

  /// The preconditioner of the implicit steppers' GMRES at a frozen U:
  /// prec(sigma, V, out) sets out = (I - sigma J_GN(U))^-1 V with J_GN the
  /// Gauss-Newton part of J, by Woodbury over the m measurements
  /// (gauss_newton_inverse.hpp). Building it costs ~m^2 d p multiply-adds.
  GaussNewtonInverse preconditioner(const Matrix& U) const { return GaussNewtonInverse(loss_, U); }
  /// The order of the system the preconditioner factors (m): the steppers'
  /// cost rule (integrate/detail/shifted_solve.hpp) reads it before building.
  Index preconditioner_size() const { return loss_.op().measurements(); }

  const SensingLoss& loss() const { return loss_; }
  std::uint64_t evaluations() const { return evaluations_; }
  void reset_evaluations() { evaluations_ = 0; }

private:
  SensingLoss loss_;
  mutable std::uint64_t evaluations_ = 0;
};

/// The induced flow of X = U U^T, paper 000 (30): X' = -2c (A*(r) X + X A*(r)).
/// A rank-r0 X stays rank r0 (Lemma C.1); integrating it beside the factor
/// flow checks both.
class GramFlow {
public:
  explicit GramFlow(SensingLoss loss) : loss_(std::move(loss)) {}

  void operator()(const Matrix& X, Matrix& dXdt, double /*t*/) const {
    loss_.gram_velocity(X, dXdt);
    ++evaluations_;
  }

  /// out = J(X)[V], the derivative of the right-hand side along a symmetric V:
  ///   J[V] = -2c ( A*(A(V)) X + X A*(A(V)) + S V + V S ),  S = A*(A(X) - b).
  /// Unlike the factor flow's, this Jacobian is not symmetric (the Gram flow
  /// is a gradient flow in another metric), so steppers use GMRES and power
  /// iteration on it. tests/test_stiff_steppers.cpp checks it against
  /// finite differences.
  void jacobian_vector(const Matrix& X, const Matrix& V, Matrix& out) const {
    linearize(X)(V, out);
  }

  // No dense_jacobian(): its d x d state exceeds stiff.dense_max_size (200)
  // from d = 15 on, so the steppers' dense path, which assembles it from
  // d^2 products here, only meets it on toy sizes.

  /// The Jacobian frozen at X (keeps S); see FactorFlow::Linearization.
  class Linearization {
  public:
    Linearization(const SensingLoss& loss, const Matrix& X) : loss_(&loss), X_(X) {
      loss.residual_adjoint_symmetric(X, S_);
    }
    void operator()(const Matrix& V, Matrix& out) const {
      Matrix dS;
      loss_->normal_apply(V, dS);  // A*(A(V)), Q form when the loss uses it
      Matrix P;
      P.noalias() = dS * X_;
      P.noalias() += S_ * V;
      // P + P^T = dS X + X dS + S V + V S for symmetric V and X. For any V
      // it is the exact derivative of the right-hand side as computed,
      // Q + Q^T with Q = S(X) X and S linear in X, so a dense Jacobian
      // assembled from (non-symmetric) unit matrices is consistent too.
      out = P + P.transpose();
      out *= -2.0 * loss_->c();
    }

  private:
    const SensingLoss* loss_;
    Matrix X_;
    Matrix S_;
  };
  Linearization linearize(const Matrix& X) const { return Linearization(loss_, X); }

  const SensingLoss& loss() const { return loss_; }
  std::uint64_t evaluations() const { return evaluations_; }
  void reset_evaluations() { evaluations_ = 0; }

private:
  SensingLoss loss_;
  mutable std::uint64_t evaluations_ = 0;
};

}  // namespace flowsense
