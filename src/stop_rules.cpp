#include "flowsense/integrate/stop_rules.hpp"

#include <limits>
#include <sstream>
#include <stdexcept>

namespace flowsense {

namespace {
std::string at(const StepInfo& i) {
  std::ostringstream s;
  s.precision(6);
  s << "t = " << i.t << " (step " << i.steps << ")";
  return s.str();
}
}  // namespace

TrainingErrorBelow::TrainingErrorBelow(SensingLoss loss, StateKind kind, double level,
                                       bool relative, std::uint64_t every)
    : loss_(std::move(loss)), kind_(kind), level_(level), relative_(relative), every_(every) {
  if (!(level > 0)) throw std::invalid_argument("TrainingErrorBelow: expected level > 0");
  if (every < 1) throw std::invalid_argument("TrainingErrorBelow: expected every >= 1");
  threshold_ = relative ? level * loss_.data().squaredNorm() : level;
}

std::optional<StopReason> TrainingErrorBelow::check(const Matrix& state, const StepInfo& info) {
  if (info.steps % every_ != 0) return std::nullopt;
  // For a factor, the loss decides without a pass over M where its normal
  // form is in use (SensingLoss::training_error_below); the value for the
  // message is computed once, at the stop.
  const bool below = kind_ == StateKind::factor ? loss_.training_error_below(state, threshold_)
                                                : training_error_of(loss_, state, kind_) < threshold_;
  if (below) {
    const double e = training_error_of(loss_, state, kind_);
    std::ostringstream s;
    s << "training error " << e << " fell below " << threshold_ << " at " << at(info);
    return StopReason{Termination::target_reached, s.str()};
  }
  return std::nullopt;
}

std::string TrainingErrorBelow::describe() const {
  std::ostringstream s;
  s << "training_error < " << level_ << (relative_ ? " * ||b||^2" : "");
  return s.str();
}

Stagnation::Stagnation(SensingLoss loss, StateKind kind, double window, double tolerance)
    : loss_(std::move(loss)), kind_(kind), window_(window), tolerance_(tolerance) {
  if (!(window > 0)) throw std::invalid_argument("Stagnation: expected window > 0");
  if (!(tolerance >= 0)) throw std::invalid_argument("Stagnation: expected tolerance >= 0");
}

std::optional<StopReason> Stagnation::check(const Matrix& state, const StepInfo& info) {
  if (previous_ < 0) {
    previous_ = training_error_of(loss_, state, kind_);
    window_start_ = info.t;
    return std::nullopt;
  }
  if (info.t - window_start_ < window_) return std::nullopt;
  const double e = training_error_of(loss_, state, kind_);
  const double decrease = (previous_ - e) / std::max(previous_, 1e-300);
  if (decrease < tolerance_) {
    std::ostringstream s;
    s << "training error decreased by a relative " << decrease << " < " << tolerance_
      << " over the window ending at " << at(info) << " (now " << e << ")";
    return StopReason{Termination::stagnated, s.str()};
  }
  previous_ = e;
  window_start_ = info.t;
  return std::nullopt;
}

std::string Stagnation::describe() const {
  std::ostringstream s;
  s << "relative decrease of training error over flow time " << window_ << " < " << tolerance_;
  return s.str();
}

Budget::Budget(std::uint64_t max_steps, std::uint64_t max_rhs, double max_seconds)
    : max_steps_(max_steps), max_rhs_(max_rhs), max_seconds_(max_seconds),
      start_(std::chrono::steady_clock::now()) {}

std::optional<StopReason> Budget::check(const Matrix&, const StepInfo& info) {
  if (max_steps_ && info.steps >= max_steps_)
    return StopReason{Termination::budget_exhausted,
                      "step budget of " + std::to_string(max_steps_) + " used up at " + at(info)};
  if (max_rhs_ && info.rhs >= max_rhs_)
    return StopReason{Termination::budget_exhausted,
                      "budget of " + std::to_string(max_rhs_) + " right-hand sides used up at " + at(info)};
  if (max_seconds_ > 0 &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() > max_seconds_)
    return StopReason{Termination::budget_exhausted,
                      [&] {
                        std::ostringstream s;
                        s << "wall-time budget of " << max_seconds_ << " s used up at " << at(info);
                        return s.str();
                      }()};
  return std::nullopt;
}

std::string Budget::describe() const {
  std::ostringstream s;
  s << "max_steps = " << max_steps_ << ", max_rhs = " << max_rhs_ << ", max_seconds = " << max_seconds_
    << " (0 = unlimited)";
  return s.str();
}

Crawl::Crawl(double t_end, std::uint64_t window, double min_mean_step, double min_steps_left)
    : t_end_(t_end), window_(window), min_mean_step_(min_mean_step), min_steps_left_(min_steps_left) {
  if (window < 1) throw std::invalid_argument("Crawl: expected window >= 1");
  if (!(min_mean_step > 0)) throw std::invalid_argument("Crawl: expected min_mean_step > 0");
  if (!(min_steps_left >= 0)) throw std::invalid_argument("Crawl: expected min_steps_left >= 0");
  if (!(t_end > 0)) throw std::invalid_argument("Crawl: expected t_end > 0");
}

std::optional<StopReason> Crawl::check(const Matrix&, const StepInfo& info) {
  if (info.steps == 0 || info.steps % window_ != 0) return std::nullopt;
  const double pace = (info.t - t_window_start_) / static_cast<double>(window_);
  const double left = pace > 0 ? (t_end_ - info.t) / pace : std::numeric_limits<double>::infinity();
  const bool crawling = previous_pace_ > 0 && pace < 2 * previous_pace_ && pace < min_mean_step_ &&
                        left > min_steps_left_;
  strikes_ = crawling ? strikes_ + 1 : 0;
  t_window_start_ = info.t;
  previous_pace_ = pace;
  if (strikes_ < 2) return std::nullopt;
  std::ostringstream s;
  s.precision(3);
  s << "the mean step over the last " << window_ << " steps was " << pace << " < " << min_mean_step_ << " at "
    << at(info) << "; reaching t = " << t_end_ << " would need about " << left << " more steps";
  return StopReason{Termination::budget_exhausted, s.str()};
}

std::string Crawl::describe() const {
  std::ostringstream s;
  s << "crawl: over " << window_ << "-step windows, twice in a row: the pace no longer doubling, the mean step below "
    << min_mean_step_ << ", and more than " << min_steps_left_ << " steps left to t = " << t_end_
    << " (budget_exhausted)";
  return s.str();
}

NormAbove::NormAbove(double max_norm) : max_norm_(max_norm) {
  if (!(max_norm > 0)) throw std::invalid_argument("NormAbove: expected max_norm > 0");
}

std::optional<StopReason> NormAbove::check(const Matrix& state, const StepInfo& info) {
  const double n = state.norm();
  if (n > max_norm_) {
    std::ostringstream s;
    s << "the state norm " << n << " exceeded " << max_norm_ << " at " << at(info);
    return StopReason{Termination::diverged, s.str()};
  }
  return std::nullopt;
}

std::string NormAbove::describe() const {
  std::ostringstream s;
  s << "||state||_F > " << max_norm_;
  return s.str();
}

}  // namespace flowsense
