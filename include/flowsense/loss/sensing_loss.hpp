#pragma once
// The loss family of both papers (DESIGN.md):
//
//   G_c(U) = (c/2) ||A(U U^T) - b||^2,   grad G_c(U) = 2c A*(r) U,
//   r(U)   = A(U U^T) - b                  (the residual),
//
// c = 1/4: paper 000's G(U) = (1/8)||A(UU^T) - b||^2 with g(U) = r/2;
// c = 1/2: paper 003's f(U) = (1/4)||A(Z* - UU^T)||^2 (A scaled by 1/sqrt(m)).
//
// The papers' GD updates are explicit Euler steps of U' = -grad G_c with step
//   h = (2w/c) * learning_rate,
// where the papers differentiate w ||r||^2: w = 1 in paper 000 (3)
// (h = 8 eta for c = 1/4), w = 1/4 in paper 003 (3) (h = mu for c = 1/2).
// gd_step() computes it; see also TimeMap in integrate/.
//
// A SensingLoss is cheap to copy (it shares the operator and its normal form)
// and its methods are const and thread-safe.
//
// Operator form (loss/operator_form.hpp): for packed operators (Gaussian, user
// matrices) gradient(), hessian_vector(), gram_velocity(), residual_adjoint()
// and normal_apply_times() may use the normal operator Q = M^T M
// (problem/normal_operator.hpp), chosen by a cost model unless forced; they
// agree with the plain path to ~1e-13 relative. residual(), training_error(),
// value() and value_and_gradient() always go through the operator itself, so
// that values near zero training error keep their digits.
// operator_form_report() says which path ran.
#include <memory>

#include "flowsense/loss/operator_form.hpp"
#include "flowsense/problem/problem.hpp"

namespace flowsense {

/// The loss constants of the two papers.
namespace loss_constant {
inline constexpr double paper000 = 0.25;
inline constexpr double paper003 = 0.5;
}  // namespace loss_constant

/// Which objective a paper's GD learning rate refers to: w in w ||r||^2.
namespace gd_objective_weight {
inline constexpr double paper000 = 1.0;   // eta on ||A(UU^T) - b||^2, (3)
inline constexpr double paper003 = 0.25;  // mu on (1/4)||A(Z* - UU^T)||^2, 003 (1),(3)
}  // namespace gd_objective_weight

/// Flow-time step of one GD iteration: h = (2w/c) * learning_rate.
inline double gd_step(double learning_rate, double objective_weight, double c) {
  return 2.0 * objective_weight / c * learning_rate;
}

class NormalOperator;
class WorkerPool;

class SensingLoss {
public:
  /// Throws std::invalid_argument if c <= 0, b has the wrong length, or
  /// form.form is normal for an operator that is not a PackedOperator.
  SensingLoss(std::shared_ptr<const SensingOperator> op, Vector b, double c, OperatorFormOptions form = {});
  SensingLoss(const Problem& problem, double c, OperatorFormOptions form = {})
      : SensingLoss(problem.op, problem.b, c, std::move(form)) {}

  const SensingOperator& op() const { return *op_; }
  std::shared_ptr<const SensingOperator> op_ptr() const { return op_; }
  const Vector& data() const { return b_; }
  double c() const { return c_; }

  /// r = A(U U^T) - b.
  void residual(const Matrix& U, Vector& r) const;
  Vector residual(const Matrix& U) const;

  /// The papers' training error ||A(U U^T) - b||^2.
  double training_error(const Matrix& U) const;
  /// Whether training_error(U) < level. Where the normal form is in use (and
  /// Q built), decided from its identity x^T (Q x - c) - c^T x + ||b||^2 and
  /// the identity's rounding bound (NormalOperator::training_error_estimate)
  /// when the value is farther from level than the bound, with the product
  /// Q x shared with the gradient at the same U (a per-thread memo): a stop
  /// rule checked every step then costs no pass over M (at paper 003's size
  /// one pass over M costs ~25 products with Q). Else from training_error(U).
  /// The answer is the one training_error(U) < level gives, except where the
  /// two computed values straddle level within rounding.
  bool training_error_below(const Matrix& U, double level) const;

  /// G_c(U) = (c/2) ||r||^2.
  double value(const Matrix& U) const;

  /// grad = 2c A*(r) U. Returns G_c(U) (the residual is shared; always the
  /// plain path, so that the value is exact near zero training error).
  double value_and_gradient(const Matrix& U, Matrix& grad) const;
  /// grad = 2c A*(r) U, through the normal form when it is in use.
  void gradient(const Matrix& U, Matrix& grad) const;

  /// S = A*(A(U U^T) - b), the d x d symmetric matrix behind the gradient.
  void residual_adjoint(const Matrix& U, Matrix& S) const;
  /// S = A*(A(X) - b) for a symmetric X (upper triangle read).
  void residual_adjoint_symmetric(const Matrix& X, Matrix& S) const;
  /// out = A*(A(W)) U for a symmetric W: the Gauss-Newton part of the
  /// Hessian-vector product, and the Jacobian-vector products of the flows.
  void normal_apply_times(const Matrix& W, const Matrix& U, Matrix& out) const;
  /// S = A*(A(W)) for a symmetric W.
  void normal_apply(const Matrix& W, Matrix& S) const;

  /// y = A(X) for a symmetric X, and out = A*(y) U: the operator's own
  /// products, for callers that need something between the two (the
  /// preconditioner, flow/gauss_newton_inverse.hpp). Always the plain form
  /// (never Q); where the loss holds the fused form's measurement-major copy
  /// of M they read that copy (core/fused_residual.hpp: FusedResidual::apply,
  /// adjoint), else the operator on the loss' pool. They agree with op()'s
  /// apply() and adjoint_times() to rounding (another summation order).
  void apply(const Matrix& X, Vector& y) const;
  void adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const;

  /// Hessian-vector product of G_c at U along V:
  ///   H[V] = 2c ( A*(A(U V^T + V U^T)) U + A*(r) V ),
  /// the derivative of grad G_c in direction V (paper 000 (10),(11) with the
  /// second-order term A*(r) V). Symmetric in the Frobenius inner product.
  void hessian_vector(const Matrix& U, const Matrix& V, Matrix& HV) const;

  /// Jr = d r / d vec(U), the m x (d p) Jacobian of the residual at U (vec
  /// column-major): Jr vec(V) = A(U V^T + V U^T), Jr^T y = 2 vec(A*(y) U).
  /// Always from the operator (SensingOperator::gram_jacobian; O(m d^2 p)
  /// for packed operators, O(m d p) for rank-one projections); independent of c.
  /// Then H = c Jr^T Jr + 2c (I_p kron A*(r)) is the Hessian of G_c.
  void residual_jacobian(const Matrix& U, Matrix& Jr) const { op_->gram_jacobian(U, Jr); }

  /// The induced flow of X = U U^T, paper 000 (30) with g = r/2 for c = 1/4:
  ///   X' = -2c ( A*(r) X + X A*(r) ),  r = A(X) - b.
  void gram_velocity(const Matrix& X, Matrix& dX) const;

  /// The normal operator if the hot path uses it now, else null. In the
  /// automatic form this counts one evaluation and builds Q when the cost
  /// model says it pays (thread-safe; copies of the loss share Q).
  const NormalOperator* normal_form() const;
  /// The requested form and threads.
  const OperatorFormOptions& operator_form_options() const;
  /// The workers of `threads` > 1 for a packed operator (null otherwise),
  /// shared by copies of the loss: the plain and normal forms' products run
  /// on it, and so do the batched flows' (flow/batch_flow.hpp), so that a
  /// run has one set of workers.
  WorkerPool* worker_pool() const;
  /// Which path ran, for manifests: "plain", "normal", or "plain, then normal
  /// after N evaluations", with the cost model's numbers when automatic.
  std::string operator_form_report() const;

private:
  struct FormState;
  std::shared_ptr<const SensingOperator> op_;
  Vector b_;
  double c_;
  std::shared_ptr<FormState> form_;
};

}  // namespace flowsense
