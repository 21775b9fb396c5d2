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
  // Steppers for stiff phases (docs/steppers.md). They need the system's
  // Jacobian-vector product (FactorFlow, GramFlow; finite differences otherwise).
  rkc,          ///< Runge-Kutta-Chebyshev 2, stabilized explicit, adaptive (integrate/rkc.hpp)
  rosenbrock,   ///< Rosenbrock-W ROS34PW2 3(2), linearly implicit, L-stable (integrate/rosenbrock.hpp)
  bdf,          ///< variable-order BDF 1-5 with modified Newton, implicit (integrate/bdf.hpp)
  automatic,    ///< config name "auto": dopri5, rkc or rosenbrock by size and stiffness (integrate/auto_stepper.hpp)
};

/// Every stepper with its config name, in a fixed order.
const std::vector<std::pair<StepperKind, std::string>>& stepper_names();
std::string to_string(StepperKind kind);
std::optional<StepperKind> stepper_from_string(const std::string& name);
bool is_adaptive(StepperKind kind);
/// The classical order of the (fixed-step) method: 1 for Euler, 4 for RK4, ...
/// (0 for automatic, which is not one method; 5, the highest, for bdf).
int order(StepperKind kind);
/// True for the steppers that read IntegrateOptions::stiff (rkc, rosenbrock,
/// bdf, auto).
bool uses_stiff_options(StepperKind kind);

/// bdf's GMRES preconditioner (docs/steppers.md, "Preconditioner").
enum class Preconditioner {
  none,       ///< plain GMRES
  woodbury,   ///< the exact inverse of the Gauss-Newton part by Woodbury over the m measurements (FactorFlow)
  automatic,  ///< config name "auto": woodbury where the cost rule says it pays, else none
};
std::string to_string(Preconditioner p);
std::optional<Preconditioner> preconditioner_from_string(const std::string& name);

/// Options of the stiff steppers (rkc, rosenbrock, bdf, auto); the defaults are
/// justified in docs/steppers.md.
struct StiffOptions {
  /// rosenbrock, bdf: states with at most this many entries get a dense
  /// Jacobian (the system's closed form, else that many Jacobian-vector
  /// products) and factor it (LU);
  /// larger states solve matrix-free with GMRES.
  std::int64_t dense_max_size = 200;
  /// rosenbrock, bdf: reuse an assembled Jacobian (bdf: also the frozen
  /// Krylov linearization) for at most this many steps (ROS34PW2 is a W-method: its order holds with any matrix in place
  /// of the Jacobian); a rejected step with an old Jacobian rebuilds it.
  /// Measured: ages 1, 5, 20, 100 give the same step counts on the flows
  /// here while the assembly cost falls ~n / age per step (docs/steppers.md).
  int jacobian_max_age = 50;
  /// rosenbrock, bdf, Krylov: stop GMRES when the residual, in the error-weighted
  /// RMS norm of the step control, is below this fraction of the tolerance.
  double krylov_tolerance = 0.02;
  /// rosenbrock, bdf, Krylov: GMRES restart length and iteration budget per solve.
  int krylov_restart = 60;
  int krylov_max_iterations = 600;
  /// bdf, Krylov: the GMRES preconditioner. woodbury needs a system that
  /// gives one (FactorFlow; others run unpreconditioned and say so in the
  /// summary); auto uses it where m <= n / 2 and only from the first
  /// Jacobian whose solves averaged more than 3 GMRES iterations
  /// (detail::choose_preconditioner, shifted_solve.hpp; docs/steppers.md).
  Preconditioner preconditioner = Preconditioner::automatic;
  /// rkc: the most stages per step (the stable step grows like stages^2).
  int rkc_max_stages = 400;
  /// rkc: re-estimate the spectral radius every this many accepted steps
  /// (and after every rejected step).
  int rkc_refresh_steps = 25;
  /// Jacobian-vector products per spectral-radius estimate (Lanczos steps
  /// for symmetric Jacobians, power iterations otherwise).
  int spectral_iterations = 20;
  /// auto: stiffness threshold. If the horizon needs fewer than this many
  /// explicit steps for stability alone (T rho / 3.3 with rho the spectral
  /// radius of J at the start), auto uses plain dopri5.
  double auto_explicit_steps = 2000.0;

  std::string validate() const;
};

/// The variable adaptive steppers step in: flow time t, or s with
/// t = t0 + tau (e^s - 1) (log_time.hpp: the self-similar collapse of large
/// initializations costs a few steps per decade of t there), or automatic:
/// `auto` chooses flow or log from a measurement at the start
/// (auto_stepper.hpp), every other stepper runs in flow time.
enum class TimeVariable { flow, log, automatic };
/// "flow", "log", "auto".
std::string to_string(TimeVariable time);

struct IntegrateOptions {
  StepperKind stepper = StepperKind::dopri5;
  double rtol = 1e-8;   ///< adaptive steppers: relative tolerance (> 0)
  double atol = 1e-12;  ///< adaptive steppers: absolute tolerance (>= 0)
  /// Fixed-step steppers: the step h. Adaptive steppers: the first trial step.
  double step = 1e-3;
  /// Adaptive steppers: the largest step allowed (0 = no limit).
  double max_step = 0.0;
  /// rkc, rosenbrock, bdf, auto only.
  StiffOptions stiff;
  /// Log time: adaptive steppers only; `step` is then still a flow-time step
  /// (the first step in s is log1p(step / tau), at most 0.1), and max_step
  /// must be 0. automatic: log or flow as `auto` decides (flow time for the
  /// other steppers).
  TimeVariable time = TimeVariable::automatic;
  /// Log time: tau > 0, or 0 for 0.1 / rho(J(x0)) (~spectral_iterations
  /// products; none extra when `auto` chose log time: it reuses its rho).
  double log_time_scale = 0.0;

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
  std::uint64_t jvp = 0;        ///< Jacobian-vector products computed (stiff steppers only; not the closed-form dense Jacobians, StiffStats::analytic_jacobians)
};

/// What the stiff steppers did (all zero for the explicit Runge-Kutta ones).
struct StiffStats {
  std::uint64_t spectral_estimates = 0;  ///< Lanczos / power-iteration runs
  double spectral_radius_first = 0.0;    ///< estimates of -lambda_min(J) = lambda_max(H) ...
  double spectral_radius_last = 0.0;
  double spectral_radius_max = 0.0;
  std::uint64_t stages_total = 0;        ///< rkc: stages over accepted and rejected steps
  int stages_max = 0;                    ///< rkc: the most stages in one step
  std::uint64_t jacobians = 0;           ///< rosenbrock, bdf: dense Jacobians assembled
  /// rosenbrock, bdf: of those, how many came in closed form from the
  /// system's dense_jacobian() (FactorFlow); they compute no
  /// Jacobian-vector products, so StepInfo::jvp does not count them.
  std::uint64_t analytic_jacobians = 0;
  std::uint64_t factorizations = 0;      ///< rosenbrock, bdf: LU factorizations of I - gamma h J (bdf: I - c h J)
  std::uint64_t linear_solves = 0;       ///< rosenbrock: stage solves; bdf: Newton iterations
  std::uint64_t krylov_iterations = 0;   ///< rosenbrock, bdf: GMRES iterations (one JVP each, or one preconditioner application)
  std::uint64_t krylov_failures = 0;     ///< rosenbrock, bdf: solves that missed the tolerance (step retried smaller)
  std::uint64_t preconditioner_builds = 0;          ///< bdf: GMRES preconditioners built (one per frozen Jacobian)
  std::uint64_t preconditioner_applications = 0;   ///< bdf: their applications (about one JVP each, not in StepInfo::jvp)
  std::uint64_t preconditioner_factorizations = 0; ///< bdf: Cholesky factorizations of their m x m shifted Gram (one per shift range)
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
  /// The method that ran ("dopri5", "rkc", "rosenbrock (dense Jacobian)", ...);
  /// for "auto", the one it picked.
  std::string stepper_used;
  /// "auto" only: why it picked stepper_used (the measured numbers).
  std::string stepper_choice;
  StiffStats stiff;
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
