#pragma once
// The definition of integrate(); see integrate.hpp. Include this only to
// instantiate integrate() for a system of your own.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "flowsense/integrate/auto_stepper.hpp"
#include "flowsense/integrate/bdf.hpp"
#include "flowsense/integrate/detail/odeint_eigen.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/log_time.hpp"
#include "flowsense/integrate/rkc.hpp"
#include "flowsense/integrate/rosenbrock.hpp"

namespace flowsense {
namespace detail {

namespace odeint = boost::numeric::odeint;
using Algebra = odeint::vector_space_algebra;

template <class Stepper>
using Plain = Stepper;

inline std::string where(const StepInfo& i) {
  std::ostringstream s;
  s.precision(6);
  s << "t = " << i.t << ", step " << i.steps;
  return s.str();
}

/// True iff every entry is finite, in one vectorized pass: x * 0 is 0 for a
/// finite x and NaN for an infinite or NaN one, so the sum is NaN exactly
/// when some entry is not finite. (Eigen's allFinite() compares x - x with
/// x - x entry by entry; after every step of a GD loop on 30 x 30 factors it
/// took 2.4% of the run.)
inline bool all_finite(const Matrix& x) { return !std::isnan((x.array() * 0.0).sum()); }

/// The shared loop state: counters, the last good state, the stop logic.
/// info.t is the driver's time (s in log time, log_time.hpp); everything
/// handed out (observers, stop rules, progress, messages) is in flow time.
struct Run {
  const Watch& watch;
  StepInfo info;
  Matrix last_good;
  double t_end;
  const TimeMap& map;
  double last_good_t = 0;  ///< the time of last_good, recorded (t - h would round)
  std::uint64_t last_good_steps = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_progress = start;
  std::optional<StopReason> stop;
  std::uint64_t observed_steps = std::numeric_limits<std::uint64_t>::max();

  /// info in flow time (h = the flow time the last step covered).
  StepInfo outside() const {
    if (map.identity()) return info;
    StepInfo o = info;
    o.t = map.flow_time(info.t);
    if (info.h > 0) o.h = o.t - map.flow_time(info.t - info.h);
    return o;
  }

  /// Call the observer once per distinct state.
  void observe(const Matrix& state) {
    if (!watch.observe || observed_steps == info.steps) return;
    observed_steps = info.steps;
    watch.observe(state, outside());
  }

  /// After an accepted step: finiteness, stop rules, cancel, progress.
  bool after_step(Matrix& state) {
    if (!all_finite(state)) {
      std::ostringstream s;
      s << "the state became non-finite in the step ending at " << where(outside())
        << "; kept the last finite state at t = " << map.flow_time(last_good_t);
      state = last_good;
      info.t = last_good_t;
      info.steps = last_good_steps;
      stop = StopReason{Termination::diverged, s.str()};
      return false;
    }
    const StepInfo here = outside();
    for (const auto& rule : watch.stop_rules) {
      if (auto reason = rule->check(state, here)) {
        stop = reason;
        return false;
      }
    }
    if (watch.cancel && watch.cancel->load(std::memory_order_relaxed)) {
      stop = StopReason{Termination::interrupted, "interrupted at " + where(here)};
      return false;
    }
    if (watch.progress) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(250)) {
        last_progress = now;
        watch.progress(here, map.flow_time(t_end));
      }
    }
    last_good = state;
    last_good_t = info.t;
    last_good_steps = info.steps;
    return true;
  }
};

template <class System, class Stepper>
void run_fixed(System& system, Stepper stepper, Matrix& state, const std::vector<double>& times,
               double h, Run& run) {
  const double t0 = times.front();
  std::uint64_t k = 0;
  auto counted = [&](const Matrix& x, Matrix& dxdt, double t) {
    ++run.info.rhs;
    system(x, dxdt, t);
  };
  run.observe(state);
  std::uint64_t last_observed = 0;
  for (std::size_t j = 1; j < times.size(); ++j) {
    const auto target = static_cast<std::uint64_t>(std::llround((times[j] - t0) / h));
    if (target <= last_observed) continue;  // snapped onto an observed grid point
    while (k < target) {
      stepper.do_step(counted, state, t0 + static_cast<double>(k) * h, h);
      ++k;
      run.info.t = t0 + static_cast<double>(k) * h;
      run.info.h = h;
      run.info.steps = k;
      if (!run.after_step(state)) return;
    }
    run.observe(state);
    last_observed = target;
  }
}

template <class System, class Controlled>
void run_adaptive(System& system, Controlled stepper, Matrix& state,
                  const std::vector<double>& times, const IntegrateOptions& options, Run& run) {
  double t = times.front();
  double dt = options.step;
  auto counted = [&](const Matrix& x, Matrix& dxdt, double tt) {
    ++run.info.rhs;
    system(x, dxdt, tt);
  };
  run.observe(state);
  for (std::size_t j = 1; j < times.size(); ++j) {
    const double target = times[j];
    while (t < target) {
      if (options.max_step > 0) dt = std::min(dt, options.max_step);
      const double remaining = target - t;
      // Land exactly on the observation time; avoid a sliver step after it.
      const bool clipped = dt >= remaining || dt > 0.99 * remaining;
      const double proposed = dt;
      double trial = clipped ? remaining : dt;
      const double t_before = trial;
      auto result = stepper.try_step(counted, state, t, trial);
      if (result == odeint::fail) {
        ++run.info.rejected;
        dt = trial;
        // No progress: a step within rounding of t, or, near t = 0, below
        // 1e-10 of the horizon. (max(1, |t|) here stopped bdf at t = 0 from
        // Example 1.1's norm-1e3 start at rtol 1e-10: its order-1 start
        // needs steps ~1e-15 while the state moves at rate ~1e8.)
        const double floor = 64 * std::numeric_limits<double>::epsilon() *
                             std::max(std::abs(t), 1e-10 * (times.back() - times.front()));
        if (dt < floor) {
          std::ostringstream s;
          s << "the adaptive step fell to " << dt << (run.map.identity() ? "" : " in log time") << " at "
            << where(run.outside());
          if constexpr (requires { stepper.failure_reason(); })
            s << ": " << stepper.failure_reason();  // the stiff steppers know why
          else
            s << ": the flow is too stiff for this explicit stepper at rtol = " << options.rtol;
          run.stop = StopReason{Termination::no_progress, s.str()};
          return;
        }
        continue;
      }
      if (clipped) t = target;  // exact, not t + remaining rounded
      run.info.t = t;
      run.info.h = t_before;
      ++run.info.steps;
      dt = clipped ? std::max(trial, proposed) : trial;
      if (!run.after_step(state)) return;
    }
    run.observe(state);
  }
}

/// integrate() on the driver's times (flow time, or s of log time with
/// `map` translating back). `picked`: auto's choice (stepper automatic only),
/// in the driver's time.
template <class System>
Summary integrate_on(System& system, Matrix& state, const std::vector<double>& times,
                     const IntegrateOptions& options, const Watch& watch, const TimeMap& map,
                     const AutoChoice* picked);

/// integrate() in log time (log_time.hpp): tau from the options or
/// 0.1 / rho(J(x0)), then the same driver on LogTimeSystem. `picked`: auto's
/// choice, made in flow time (its rho is reused for tau).
template <class System>
Summary integrate_log_time(System& system, Matrix& state, const std::vector<double>& times,
                           const IntegrateOptions& options, const Watch& watch, const AutoChoice* picked) {
  double tau = options.log_time_scale;
  std::uint64_t products = 0;
  std::ostringstream why;
  why.precision(3);
  if (tau == 0) {
    const double rho = picked ? picked->estimate.spectral_radius
                              : estimate_stiffness(system, state, options.stiff.spectral_iterations, &products)
                                    .spectral_radius;
    if (rho > 0 && std::isfinite(rho)) {
      tau = 0.1 / rho;
      why << "log time t = tau (e^s - 1) with tau = 0.1 / rho = " << tau << " (rho ~ " << rho
          << ", the spectral radius of J at t0)";
    } else {
      tau = options.step;
      why << "log time t = tau (e^s - 1) with tau = first_step = " << tau << " (J = 0 at t0)";
    }
  } else {
    why << "log time t = tau (e^s - 1) with tau = " << tau << " (given)";
  }
  const TimeMap map(tau, times);
  LogTimeSystem<System> in_log_time(system, tau, times.front());
  IntegrateOptions o = options;
  o.time = TimeVariable::flow;
  o.step = std::min(0.1, std::log1p(options.step / tau));  // the first step, in s
  // auto decides stiff or not in flow time (T rho(J(x0)) / 3.3 explicit
  // steps): in s both the horizon and rho are small (rho_s = (t + tau) rho =
  // 0.1 at the start), which would always read "not stiff", and its
  // switcher would then never be used even though rho_s grows like t. Its
  // switcher runs in s: h_s rho_s = h_t rho_t, the same stability measure.
  std::optional<AutoChoice> in_s;
  if (picked) {
    in_s = *picked;
    in_s->estimate.stiffness *= tau;
    in_s->estimate.spectral_radius *= tau;
  }
  Summary summary = integrate_on(in_log_time, state, map.driver_times(), o, watch, map, in_s ? &*in_s : nullptr);
  summary.last.jvp += products;
  summary.stepper_choice = (summary.stepper_choice.empty() ? "" : summary.stepper_choice + "; ") + why.str();
  return summary;
}

}  // namespace detail

template <class System>
Summary integrate(System& system, Matrix& state, const std::vector<double>& times,
                  const IntegrateOptions& options, const Watch& watch) {
  if (auto problem = options.validate(); !problem.empty())
    throw std::invalid_argument("integrate(): " + problem);
  if (times.empty()) throw std::invalid_argument("integrate(): expected at least one time, got none");
  for (std::size_t j = 1; j < times.size(); ++j)
    if (!(times[j] > times[j - 1]))
    {
      std::ostringstream s;
      s << std::setprecision(15) << "integrate(): times must be strictly increasing, got t[" << j - 1
        << "] = " << times[j - 1] << " >= t[" << j << "] = " << times[j];
      throw std::invalid_argument(s.str());
    }
  if (!state.allFinite()) throw std::invalid_argument("integrate(): the initial state is not finite");
  // `auto` measures the stiffness at the start (in flow time) and runs one
  // of the others.
  // Its products are counted from the run's start (integrate_on).
  std::optional<AutoChoice> picked;
  if (options.stepper == StepperKind::automatic) picked = choose_stepper(system, state, times, options);
  const AutoChoice* choice = picked ? &*picked : nullptr;
  // The time variable: given, or auto's choice (automatic means flow time
  // for every other stepper).
  if (options.time == TimeVariable::log || (picked && picked->time == TimeVariable::log))
    return detail::integrate_log_time(system, state, times, options, watch, choice);
  return detail::integrate_on(system, state, times, options, watch, TimeMap{}, choice);
}

template <class System>
Summary detail::integrate_on(System& system, Matrix& state, const std::vector<double>& times,
                             const IntegrateOptions& options, const Watch& watch, const TimeMap& map,
                             const AutoChoice* picked) {
  using namespace detail;
  Run run{watch, StepInfo{}, state, times.back(), map};
  run.info.t = times.front();
  run.info.jvp = picked ? static_cast<std::uint64_t>(picked->estimate.products) : 0;
  run.info.rhs = picked ? picked->rhs : 0;
  run.last_good_t = times.front();
  const double rtol = options.rtol, atol = options.atol;
  StepperKind kind = options.stepper;
  StiffStats stiff;
  std::string choice;
  AutoReport report;
  // `auto` starts no larger than 1/rho: from a huge initialization (Example
  // 1.1 at norm 1e3, rho ~ 1e8) the default first step has h rho ~ 1e2, and
  // odeint's error norm, eps_rel (|x| + h |x'|), grows with the very h|x'|
  // that blows up, so such a step can be accepted with a finite but
  // astronomically large state instead of being rejected.
  IntegrateOptions auto_options;
  const IntegrateOptions* used_options = &options;
  if (kind == StepperKind::automatic) {
    if (!picked) throw std::logic_error("integrate_on(): stepper auto without its choice");
    kind = picked->kind;  // dopri5, or automatic = AutoStepper
    choice = picked->reason;
    const double rho = picked->estimate.spectral_radius;
    if (rho > 0 && options.step * rho > 1.0) {
      auto_options = options;
      auto_options.step = 1.0 / rho;
      used_options = &auto_options;
      std::ostringstream s;
      s.precision(3);
      s << "; first step 1/rho = " << auto_options.step << " (not " << options.step << ")";
      choice += s.str();
    }
    ++stiff.spectral_estimates;
    stiff.spectral_radius_first = stiff.spectral_radius_last = stiff.spectral_radius_max =
        picked->estimate.stiffness;
  }
  switch (kind) {
    case StepperKind::euler:
      run_fixed(system, odeint::euler<Matrix, double, Matrix, double, Algebra>(), state, times,
                options.step, run);
      break;
    case StepperKind::rk4:
      run_fixed(system, odeint::runge_kutta4<Matrix, double, Matrix, double, Algebra>(), state,
                times, options.step, run);
      break;
    case StepperKind::dopri5:
      run_adaptive(system,
                   odeint::make_controlled(
                       atol, rtol, odeint::runge_kutta_dopri5<Matrix, double, Matrix, double, Algebra>()),
                   state, times, *used_options, run);
      break;
    case StepperKind::cash_karp54:
      run_adaptive(system,
                   odeint::make_controlled(
                       atol, rtol,
                       odeint::runge_kutta_cash_karp54<Matrix, double, Matrix, double, Algebra>()),
                   state, times, *used_options, run);
      break;
    case StepperKind::fehlberg78:
      run_adaptive(system,
                   odeint::make_controlled(
                       atol, rtol,
                       odeint::runge_kutta_fehlberg78<Matrix, double, Matrix, double, Algebra>()),
                   state, times, *used_options, run);
      break;
    case StepperKind::rkc:
      run_adaptive(system, RkcStepper<System>(system, options, &stiff, &run.info.jvp), state, times,
                   *used_options, run);
      break;
    case StepperKind::rosenbrock:
      run_adaptive(system, RosenbrockStepper<System>(system, options, &stiff, &run.info.jvp), state,
                   times, options, run);
      break;
    case StepperKind::bdf:
      run_adaptive(system, BdfStepper<System>(system, options, &stiff, &run.info.jvp), state, times,
                   *used_options, run);
      break;
    case StepperKind::automatic:
      run_adaptive(system,
                   AutoStepper<System>(system, *used_options, picked->estimate, &stiff, &run.info.jvp, &report, &map),
                   state, times, *used_options, run);
      break;
  }

  Summary summary;
  summary.stepper_used = to_string(kind);
  if (kind == StepperKind::rosenbrock)
    summary.stepper_used += detail::uses_dense_jacobian(state.size(), options.stiff)
                                ? " (dense Jacobian)"
                                : " (GMRES)";
  if (kind == StepperKind::bdf) {
    if (detail::uses_dense_jacobian(state.size(), options.stiff)) {
      summary.stepper_used += " (dense Jacobian)";
    } else {
      const auto prec = detail::choose_preconditioner(system, state.size(), options.stiff);
      std::string why = prec.why;
      if (prec.eligible)
        why += stiff.preconditioner_builds > 0
                   ? ": switched on, " + std::to_string(stiff.preconditioner_builds) + " builds"
                   : ": not needed";
      summary.stepper_used += why.empty() ? " (GMRES)" : " (GMRES, " + why + ")";
    }
  }
  if (kind == StepperKind::automatic) {
    summary.stepper_used = report.used;
    choice += report.switches ? "; " + report.log : "; found no stiff phase";
  }
  summary.stepper_choice = choice;
  summary.stiff = stiff;
  summary.last = run.outside();
  summary.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run.start).count();
  if (run.stop) {
    summary.termination = run.stop->termination;
    summary.message = run.stop->message;
    run.observe(state);  // keep the stopping point in the record
  } else {
    summary.termination = Termination::completed;
    std::ostringstream s;
    s << "reached t = " << std::setprecision(15) << map.flow_time(times.back());
    summary.message = s.str();
  }
  if (watch.progress) watch.progress(run.outside(), map.flow_time(times.back()));
  return summary;
}

}  // namespace flowsense
