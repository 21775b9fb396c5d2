#pragma once
// What a metric sees at one observation time: the state, where the run is,
// the loss, and lazily computed quantities that several metrics share
// (residual, X = UU^T, the spectrum), each computed at most once per time.
#include <optional>

#include "flowsense/flow/state.hpp"
#include "flowsense/integrate/stepper.hpp"
#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

class Observation {
public:
  /// `gd_step` is the flow time of one GD iteration (SensingLoss's gd_step),
  /// or 0 if the run has no GD counterpart.
  Observation(const Matrix& state, StateKind kind, const StepInfo& info, const SensingLoss& loss,
              double gd_step = 0.0)
      : state_(state), kind_(kind), info_(info), loss_(loss), gd_step_(gd_step) {}

  const Matrix& state() const { return state_; }
  StateKind kind() const { return kind_; }
  const StepInfo& info() const { return info_; }
  const SensingLoss& loss() const { return loss_; }
  double gd_step() const { return gd_step_; }
  /// t / h_GD: the GD iteration this flow time corresponds to (NaN if none).
  double gd_iteration() const;

  /// r = A(X) - b.
  const Vector& residual();
  /// ||r||^2, the papers' training error.
  double training_error();
  /// X = U U^T (factor) or the state (gram).
  const Matrix& gram();
  /// Singular values of the factor U, descending; for a Gram state,
  /// sqrt(max(lambda_i(X), 0)), which is the same thing for X = U U^T.
  const Vector& factor_singular_values();
  /// Eigenvalues of X, descending.
  const Vector& gram_eigenvalues();

private:
  const Matrix& state_;
  StateKind kind_;
  StepInfo info_;
  const SensingLoss& loss_;
  double gd_step_;
  std::optional<Vector> residual_;
  std::optional<Matrix> gram_;
  std::optional<Vector> singular_values_;
  std::optional<Vector> eigenvalues_;
};

}  // namespace flowsense
