#pragma once
// Stop rules, checked after every accepted step (odeint observers cannot stop
// a run, so the driver asks these). A rule returns a StopReason to end the
// run; the run then keeps everything it recorded and reports the reason.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "flowsense/core/types.hpp"
#include "flowsense/flow/state.hpp"
#include "flowsense/integrate/stepper.hpp"
#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

struct StopReason {
  Termination termination;
  std::string message;
};

class StopRule {
public:
  virtual ~StopRule() = default;
  virtual std::optional<StopReason> check(const Matrix& state, const StepInfo& info) = 0;
  /// One line for manifests: what the rule is and its parameters.
  virtual std::string describe() const = 0;
};

/// Stop once the training error ||A(X) - b||^2 falls below `level`, or below
/// `level * ||b||^2` when `relative` is set. Checked every `every` steps
/// (each check costs about half a right-hand side).
class TrainingErrorBelow : public StopRule {
public:
  TrainingErrorBelow(SensingLoss loss, StateKind kind, double level, bool relative = false,
                     std::uint64_t every = 1);
  std::optional<StopReason> check(const Matrix& state, const StepInfo& info) override;
  std::string describe() const override;

private:
  SensingLoss loss_;
  StateKind kind_;
  double level_, threshold_;
  bool relative_;
  std::uint64_t every_;
};

/// Stop when the training error decreased by less than a relative `tolerance`
/// over a window of flow time `window` (checked at window ends).
class Stagnation : public StopRule {
public:
  Stagnation(SensingLoss loss, StateKind kind, double window, double tolerance);
  std::optional<StopReason> check(const Matrix& state, const StepInfo& info) override;
  std::string describe() const override;

private:
  SensingLoss loss_;
  StateKind kind_;
  double window_, tolerance_;
  double window_start_ = 0.0, previous_ = -1.0;
};

/// Step, right-hand-side and wall-clock budgets (0 = unlimited).
class Budget : public StopRule {
public:
  Budget(std::uint64_t max_steps, std::uint64_t max_rhs, double max_seconds);
  std::optional<StopReason> check(const Matrix& state, const StepInfo& info) override;
  std::string describe() const override;

private:
  std::uint64_t max_steps_, max_rhs_;
  double max_seconds_;
  std::chrono::steady_clock::time_point start_;
};

/// Divergence: the state's Frobenius norm exceeds `max_norm` (an exploding
/// run). Non-finite states are always caught by the driver itself.
class NormAbove : public StopRule {
public:
  explicit NormAbove(double max_norm);
  std::optional<StopReason> check(const Matrix& state, const StepInfo& info) override;
  std::string describe() const override;

private:
  double max_norm_;
};

}  // namespace flowsense
