#pragma once
// Stepper choices and integration options (validated like Ceres' Options).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flowsense/core/types.hpp"

namespace flowsense {

enum class StepperKind {
  euler,        ///< explicit Euler = the papers' GD with step h (fixed step)
  rk4,          ///< classical Runge-Kutta 4 (fixed step)
  dopri5,       ///< Dormand-Prince 5(4), adaptive, FSAL
  cash_karp54,  ///< Cash-Karp 5(4), adaptive
  fehlberg78,   ///< Runge-Kutta-Fehlberg 7(8), adaptive
};

/// Every stepper with its config name, in a fixed order.
const std::vector<std::pair<StepperKind, std::string>>& stepper_names();
std::string to_string(StepperKind kind);
std::optional<StepperKind> stepper_from_string(const std::string& name);
bool is_adaptive(StepperKind kind);
/// The classical order of the (fixed-step) method: 1 for Euler, 4 for RK4, ...
int order(StepperKind kind);

struct IntegrateOptions {
  StepperKind stepper = StepperKind::dopri5;
  double rtol = 1e-8;   ///< adaptive steppers: relative tolerance (> 0)
  double atol = 1e-12;  ///< adaptive steppers: absolute tolerance (>= 0)
  /// Fixed-step steppers: the step h. Adaptive steppers: the first trial step.
  double step = 1e-3;
  /// Adaptive steppers: the largest step allowed (0 = no limit).
  double max_step = 0.0;

  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

/// Where a run is: handed to observers, stop rules and progress reports.
struct StepInfo {
  double t = 0.0;               ///< flow time
  double h = 0.0;               ///< last accepted step (0 before the first)
  std::uint64_t steps = 0;      ///< accepted steps
  std::uint64_t rejected = 0;   ///< rejected trial steps (adaptive only)
  std::uint64_t rhs = 0;        ///< right-hand-side evaluations
};

enum class Termination {
  completed,         ///< reached the last observation time
  target_reached,    ///< a stop rule's target (e.g. training error level) was met
  stagnated,         ///< progress fell below a stop rule's threshold
  budget_exhausted,  ///< step, evaluation or wall-time budget used up
  diverged,          ///< non-finite or exploding state; the last good state is kept
  no_progress,       ///< the adaptive step fell below what floating point resolves
  interrupted,       ///< cancelled from outside (e.g. Ctrl-C in the CLI)
};
std::string to_string(Termination termination);

/// The outcome of a run: why and where it stopped, never an exception.
struct Summary {
  Termination termination = Termination::completed;
  std::string message;
  StepInfo last;               ///< the state the run stopped at
  double wall_seconds = 0.0;
  bool ok() const {
    return termination == Termination::completed || termination == Termination::target_reached;
  }
};

/// Observation times: n points from t0 to t1, linear or logarithmic
/// (log-spaced grids suit the long plateaus of small initializations; the log
/// grid starts at t0 = 0 and then spaces t_min..t1 logarithmically).
std::vector<double> linear_times(double t0, double t1, int n);
std::vector<double> log_times(double t_min, double t1, int n, bool include_zero = true);

}  // namespace flowsense
