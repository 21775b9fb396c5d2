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

/// Ends an adaptive run that has slowed to a crawl: an explicit stepper
/// pinned at its stability limit (steps of about 3.3 / rho for dopri5, rho
/// the Hessian's spectral radius), as on the zero-training-error set reached
/// from a far start (docs/example_1_1.md). Every `window` accepted steps it
/// measures the mean step over that window; it stops (budget_exhausted) if,
/// twice in a row, (i) the pace has stopped growing (less than doubled since
/// the previous window), (ii) the mean step is below `min_mean_step`, and
/// (iii) `t_end` is more than `min_steps_left` steps away at that pace. A
/// run that is speeding up is left alone. It counts steps, not seconds, so
/// the outcome is the same on every machine.
class Crawl : public StopRule {
public:
  /// Throws std::invalid_argument unless window >= 1, min_mean_step > 0,
  /// min_steps_left >= 0 and t_end > 0.
  Crawl(double t_end, std::uint64_t window, double min_mean_step, double min_steps_left);
  std::optional<StopReason> check(const Matrix& state, const StepInfo& info) override;
  std::string describe() const override;

private:
  double t_end_;
  std::uint64_t window_;
  double min_mean_step_, min_steps_left_;
  double t_window_start_ = 0.0, previous_pace_ = 0.0;
  int strikes_ = 0;
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
