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
// symmetric, so its spectrum is real.
#include <atomic>
#include <cstdint>

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

  const SensingLoss& loss() const { return loss_; }
  std::uint64_t evaluations() const { return evaluations_; }
  void reset_evaluations() { evaluations_ = 0; }

private:
  SensingLoss loss_;
  mutable std::uint64_t evaluations_ = 0;
};

}  // namespace flowsense
