#include "flowsense/integrate/stepper.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace flowsense {

const std::vector<std::pair<StepperKind, std::string>>& stepper_names() {
  static const std::vector<std::pair<StepperKind, std::string>> names = {
      {StepperKind::euler, "euler"},
      {StepperKind::rk4, "rk4"},
      {StepperKind::dopri5, "dopri5"},
      {StepperKind::cash_karp54, "cash_karp54"},
      {StepperKind::fehlberg78, "fehlberg78"},
      {StepperKind::rkc, "rkc"},
      {StepperKind::rosenbrock, "rosenbrock"},
      {StepperKind::bdf, "bdf"},
      {StepperKind::automatic, "auto"},
  };
  return names;
}

std::string to_string(StepperKind kind) {
  for (const auto& [k, name] : stepper_names())
    if (k == kind) return name;
  return "unknown";
}

std::optional<StepperKind> stepper_from_string(const std::string& name) {
  for (const auto& [k, n] : stepper_names())
    if (n == name) return k;
  return std::nullopt;
}

bool is_adaptive(StepperKind kind) {
  return kind != StepperKind::euler && kind != StepperKind::rk4;
}

int order(StepperKind kind) {
  switch (kind) {
    case StepperKind::euler: return 1;
    case StepperKind::rk4: return 4;
    case StepperKind::dopri5: return 5;
    case StepperKind::cash_karp54: return 5;
    case StepperKind::fehlberg78: return 8;
    case StepperKind::rkc: return 2;
    case StepperKind::rosenbrock: return 3;
    case StepperKind::bdf: return 5;
    case StepperKind::automatic: return 0;
  }
  return 0;
}

bool uses_stiff_options(StepperKind kind) {
  return kind == StepperKind::rkc || kind == StepperKind::rosenbrock || kind == StepperKind::bdf ||
         kind == StepperKind::automatic;
}

std::string IntegrateOptions::validate() const {
  std::ostringstream s;
  if (!(step > 0) || !std::isfinite(step)) s << "step must be a positive finite number, got " << step;
  else if (!(rtol > 0) || !std::isfinite(rtol)) s << "rtol must be positive, got " << rtol;
  else if (!(atol >= 0) || !std::isfinite(atol)) s << "atol must be >= 0, got " << atol;
  else if (!(max_step >= 0)) s << "max_step must be >= 0 (0 = no limit), got " << max_step;
  else if (auto problem = stiff.validate(); !problem.empty()) s << problem;
  else if (!(log_time_scale >= 0) || !std::isfinite(log_time_scale))
    s << "log_time_scale must be a finite number >= 0 (0 = automatic), got " << log_time_scale;
  else if (time == TimeVariable::log && !is_adaptive(stepper))
    s << "time = log needs an adaptive stepper (its steps are in s, not t), got " << to_string(stepper);
  else if (time == TimeVariable::log && max_step > 0)
    s << "max_step (a flow-time bound) is not supported with time = log, got " << max_step;
  return s.str();
}

std::string to_string(Preconditioner p) {
  switch (p) {
    case Preconditioner::none: return "none";
    case Preconditioner::woodbury: return "woodbury";
    case Preconditioner::automatic: return "auto";
  }
  return "unknown";
}

std::optional<Preconditioner> preconditioner_from_string(const std::string& name) {
  for (Preconditioner p : {Preconditioner::none, Preconditioner::woodbury, Preconditioner::automatic})
    if (to_string(p) == name) return p;
  return std::nullopt;
}

std::string to_string(TimeVariable time) {
  switch (time) {
    case TimeVariable::flow: return "flow";
    case TimeVariable::log: return "log";
    case TimeVariable::automatic: return "auto";
  }
  return "?";
}

std::string StiffOptions::validate() const {
  std::ostringstream s;
  if (dense_max_size < 0) s << "stiff.dense_max_size must be >= 0, got " << dense_max_size;
  else if (jacobian_max_age < 1) s << "stiff.jacobian_max_age must be >= 1, got " << jacobian_max_age;
  else if (!(krylov_tolerance > 0 && krylov_tolerance < 1))
    s << "stiff.krylov_tolerance must be in (0, 1), got " << krylov_tolerance;
  else if (krylov_restart < 2) s << "stiff.krylov_restart must be >= 2, got " << krylov_restart;
  else if (krylov_max_iterations < 1)
    s << "stiff.krylov_max_iterations must be >= 1, got " << krylov_max_iterations;
  else if (rkc_max_stages < 2 || rkc_max_stages > 10000)
    s << "stiff.rkc_max_stages must be in [2, 10000], got " << rkc_max_stages;
  else if (rkc_refresh_steps < 1) s << "stiff.rkc_refresh_steps must be >= 1, got " << rkc_refresh_steps;
  else if (spectral_iterations < 2) s << "stiff.spectral_iterations must be >= 2, got " << spectral_iterations;
  else if (!(auto_explicit_steps >= 0) || !std::isfinite(auto_explicit_steps))
    s << "stiff.auto_explicit_steps must be a finite number >= 0, got " << auto_explicit_steps;
  return s.str();
}

std::string to_string(Termination termination) {
  switch (termination) {
    case Termination::completed: return "completed";
    case Termination::target_reached: return "target_reached";
    case Termination::stagnated: return "stagnated";
    case Termination::budget_exhausted: return "budget_exhausted";
    case Termination::diverged: return "diverged";
    case Termination::no_progress: return "no_progress";
    case Termination::interrupted: return "interrupted";
  }
  return "unknown";
}

std::vector<double> linear_times(double t0, double t1, int n) {
  if (n < 2 || !(t1 > t0))
    throw std::invalid_argument("linear_times: expected n >= 2 and t1 > t0, got n = " +
                                std::to_string(n));
  std::vector<double> t(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<std::size_t>(i)] = t0 + (t1 - t0) * i / (n - 1);
  t.back() = t1;
  return t;
}

std::vector<double> log_times(double t_min, double t1, int n, bool include_zero) {
  if (n < 2 || !(t_min > 0) || !(t1 > t_min))
    throw std::invalid_argument("log_times: expected n >= 2 and 0 < t_min < t1, got n = " +
                                std::to_string(n) + ", t_min = " + std::to_string(t_min) +
                                ", t1 = " + std::to_string(t1));
  std::vector<double> t;
  if (include_zero) t.push_back(0.0);
  const double a = std::log(t_min), b = std::log(t1);
  for (int i = 0; i < n; ++i) t.push_back(std::exp(a + (b - a) * i / (n - 1)));
  t.back() = t1;
  return t;
}

}  // namespace flowsense
