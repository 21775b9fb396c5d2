#pragma once
// `stepper: auto` — pick a stepper from the state size and the measured
// stiffness at the start, and say why (Summary::stepper_choice, which the
// manifest records).
//
// At the start (choose_stepper), from the state size and the stiffness:
//   rho      = the spectral radius max |lambda(J(x0))| (spectral_radius.hpp,
//              ~10-20 Jacobian-vector products). Not only the stable part
//              -lambda_min: from a small start the Hessian is dominated by
//              2c (I (x) A*(A(UU^T) - b)) ~ -2c (I (x) A*(b)), whose negative
//              eigenvalues (growth, +|lambda| in J) have the size that the
//              stable ones reach once U has grown (full observation:
//              lambda_max(-J) ~ 1 at a norm-1 start, ~300 later, while the
//              spectral radius is ~200 from the start);
//   N_expl   = (t_end - t0) rho / 3.3, the steps an explicit Runge-Kutta
//              method would need for stability alone over the horizon
//              (dopri5's real stability interval is about [-3.3, 0]);
//   K        = the number of observation intervals (every stepper lands on
//              each observation time, so no run takes fewer than K steps).
// If N_expl <= max(stiff.auto_explicit_steps, K) the run cannot be stiff
// over its horizon: plain dopri5, whose order 5 is cheapest at tight
// tolerances (bit for bit the dopri5 run). Otherwise AutoStepper below.
//
// Why not a stiff method from the start: these flows are stiff only in
// phases. Measured at Example 1.1 size (docs/steppers.md), the first
// ~0.5 time units from a norm-1 start, and the collapse from a norm-1e3
// start, are fast transients in which the solution itself moves at the
// rate lambda_max(H): there dopri5 is limited by accuracy, not stability,
// and its order 5 takes 10-20x fewer evaluations than a third-order
// Rosenbrock or second-order RKC step at rtol 1e-8. Once the flow settles,
// lambda_max(H) ~ 330 stays while the solution barely moves, and dopri5's
// ~100 steps per unit time are pure stability cost, which implicit steps
// do not pay. BDF (orders up to 5, 1-2 right-hand sides per step) can
// follow a smooth transient with steps like dopri5's at a quarter of the
// evaluations, so whether it pays there is measured along the run (the
// accuracy rule below), not assumed.
//
// The stiff method is BDF (bdf.hpp, orders 1-5, one Newton solve per step),
// not ROS34PW2 (rosenbrock.hpp, order 3, four solves per step). Measured on
// the benchmark's problems at rtol 1e-8 (rhs + Jacobian-vector products,
// docs/performance.md): Example 1.1 rank-30 norm 1 to t = 80, 4,197 with
// BDF against 12,090 with ROS34PW2; rank-2 norm 1e3, 5,863 against 6,134
// (reduced state: 4,539 against 4,718); rank-30 norm 1e3, 8,036 against
// 8,206. Errors against the references stay below 3e-10 (rtol / 30).
//
// AutoStepper switches between the two, LSODA-like, on measured costs in
// right-hand-side units (StiffCostWeights below), with a factor `margin` =
// 1.5 of hysteresis each way; every `check` accepted steps:
//  - dopri5 -> bdf, stability: estimate rho at the current state; if the
//    largest accepted step of the window has h rho >= 1 (dopri5's step
//    control keeps h rho near 1-1.5 when stability limits it), switch;
//  - dopri5 -> bdf, accuracy (h rho < 1; only for a declared symmetric
//    Jacobian, i.e. a real spectrum): dopri5's measured cost is its
//    right-hand sides per unit time over the window (6 per accepted step,
//    rejected steps included). bdf's cost is predicted without running it:
//    its cost per step (measured in its last judged window, else 1.4
//    right-hand sides, plus 3 products with GMRES) over the step bdf would
//    be allowed, from the divided differences of the last 7 accepted
//    dopri5 points (predict_bdf_step: bdf's own error estimate, order 1-5).
//    Switch when 1.5 x that is below dopri5's cost. This is what takes bdf
//    into a self-similar collapse in log time, where dopri5's steps stay
//    at h rho ~ 0.002-0.2 and the stability rule never fires (benchmark
//    problem 3, reduced rank-2 state: 3,801 -> 1,482 right-hand sides);
//  - bdf -> dopri5: bdf's measured cost per unit time over the window
//    (right-hand sides + Jacobian-vector products + 1.5 per preconditioner
//    application + 7 per closed-form dense Jacobian + 1 per LU) against
//    what dopri5 would cost, the larger of its stability bound 7 rho / 1.5
//    (7 evaluations per step at h <= 1.5 / rho) and its accuracy cost (what
//    it measured before the switch, scaled by how its step would have
//    changed since: the order-4 step model of predict_bdf_step on bdf's
//    last points against the same model on dopri5's points at the switch).
//    Back to dopri5 when bdf spends more than 1.5 x that; the next attempt
//    to go stiff then waits twice as long. bdf is first judged on the
//    third window after a switch (the first two are its order build-up
//    from order 1), and rho is estimated only when bdf spends more than
//    1.5 x dopri5's accuracy cost (otherwise it cannot lose).
// Every switch is logged (time and numbers) in Summary::stepper_choice.
//
// The time variable (IntegrateOptions::time = TimeVariable::automatic, the
// default; choose_stepper below): log time (log_time.hpp) pays where the
// flow is self-similar, and self-similarity is measured at the start. If
// f is homogeneous of degree p near x0, f(k x) = k^p f(x), its solutions
// satisfy x(t) -> k x(k^(p-1) t) and collapse like t^(-1/(p-1)) for p > 1:
// a power law, a fixed number of steps per decade in log time. Far from
// the data the factor flow is the homogeneous quartic's, p = 3 (GramFlow:
// p = 2); from a small start it is linear, p = 1, its phases exponential
// (log time gains nothing there); near the data it is neither. Measured
// from three right-hand sides, as the local degree below and above x0:
//   p_low  = log2(|f(x0)| / |f(x0 / 2)|),  p_high = log2(|f(2 x0)| / |f(x0)|);
// log time iff |p_high - p_low| <= 1e-5 and both >= 1.5. The spread
// measures how far the start is from the data: for the factor flow
// f(k U) = k^3 Q - k L (L from b), and on Example 1.1 the spread is
// 0.5-1.5 ||b|| / ||A(X0)||. At a small start (degrees 1.000, 1.000 at
// paper 003's norm 1e-3) log time costs 10-48% more, and near the data
// (spread 0.6 at Example 1.1's norm 1) it is mixed (docs/steppers.md,
// "auto chooses the time variable"). Far out (spread <= 1e-5, Example 1.1
// from norm ~300) it won every run measured at rtol 1e-8 and 1e-10 (by
// 9-61%, both run families) and most at 1e-6. The bound was set with the
// stability-only switching rule; re-measured with the accuracy-bound
// switch it is too tight at rtol 1e-8 and 1e-10 (a bound of 1e-2 would
// take 7-18% off auto on both sweeps) and about right at 1e-6 on Example
// 1.1: a compromise, not a law; the crossover depends on the tolerance
// and on the state (reduced, dense Jacobian vs full, GMRES). max_step > 0
// keeps flow time (it bounds flow-time steps, which log time does not take).
//
// Also: a dopri5 step that produces a non-finite state (odeint's error
// check accepts NaN) is rejected and retried with h / 10 here, so that a
// too-large first step at a huge initialization is survivable.
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <optional>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/odeint_eigen.hpp"
#include "flowsense/integrate/bdf.hpp"
#include "flowsense/integrate/log_time.hpp"
#include "flowsense/integrate/spectral_radius.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense {

/// The local degree of homogeneity of f around x0 (see above).
struct SelfSimilarity {
  double low = std::numeric_limits<double>::quiet_NaN();   ///< log2(|f(x0)| / |f(x0 / 2)|)
  double high = std::numeric_limits<double>::quiet_NaN();  ///< log2(|f(2 x0)| / |f(x0)|)
  /// |high - low| <= self_similar_spread and both >= self_similar_degree.
  bool holds = false;
};

/// The rule's bounds (see above: measured on Example 1.1, not a law).
inline constexpr double self_similar_spread = 1e-5;
inline constexpr double self_similar_degree = 1.5;

/// Three right-hand sides at x0 / 2, x0, 2 x0 (counted in *rhs_counter).
template <class System>
SelfSimilarity measure_self_similarity(System& system, const Matrix& x0, double t0,
                                       std::uint64_t* rhs_counter = nullptr) {
  double norms[3];
  const double scales[3] = {0.5, 1.0, 2.0};
  Matrix x, f(x0.rows(), x0.cols());
  for (int i = 0; i < 3; ++i) {
    x = scales[i] * x0;
    system(x, f, t0);
    if (rhs_counter) ++*rhs_counter;
    norms[i] = f.norm();
  }
  SelfSimilarity s;
  if (!(norms[0] > 0 && norms[1] > 0) || !std::isfinite(norms[2])) return s;
  s.low = std::log2(norms[1] / norms[0]);
  s.high = std::log2(norms[2] / norms[1]);
  s.holds = std::abs(s.high - s.low) <= self_similar_spread && std::min(s.low, s.high) >= self_similar_degree;
  return s;
}

struct AutoChoice {
  /// dopri5 (not stiff over the horizon) or automatic (run AutoStepper).
  StepperKind kind = StepperKind::dopri5;
  /// flow or log: options.time, or what the rule chose for automatic.
  TimeVariable time = TimeVariable::flow;
  std::string reason;          ///< one line with the numbers
  SpectralEstimate estimate;   ///< the stiffness measured at the start
  double explicit_steps = 0;   ///< N_expl = T rho / 3.3
  SelfSimilarity similarity;   ///< measured only for time = automatic
  std::uint64_t rhs = 0;       ///< right-hand sides the choice took
};

/// dopri5's stability interval on the negative real axis, [-3.3, 0].
inline constexpr double explicit_stability_limit = 3.3;

template <class System>
AutoChoice choose_stepper(System& system, const Matrix& x0, const std::vector<double>& times,
                          const IntegrateOptions& options, std::uint64_t* jvp_counter = nullptr) {
  AutoChoice choice;
  choice.estimate = estimate_stiffness(system, x0, options.stiff.spectral_iterations, jvp_counter);
  const double rho = choice.estimate.spectral_radius;
  const double horizon = times.back() - times.front();
  const auto intervals = static_cast<double>(times.size() > 1 ? times.size() - 1 : 1);
  choice.explicit_steps = horizon * rho / explicit_stability_limit;
  const Index n = x0.size();
  const bool dense = detail::uses_dense_jacobian(n, options.stiff);

  std::ostringstream why;
  why.precision(3);
  why << "spectral radius of J ~ " << rho << " at t0 (" << choice.estimate.products
      << " Jacobian-vector products), so an explicit stepper needs ~" << choice.explicit_steps
      << " steps for stability over T = " << horizon << " (T rho / 3.3)";
  const double threshold = std::max(options.stiff.auto_explicit_steps, intervals);
  if (!(choice.explicit_steps > threshold)) {
    choice.kind = StepperKind::dopri5;
    why << " <= " << threshold << " (max of stiff.auto_explicit_steps and the " << intervals
        << " observation intervals): not stiff, dopri5";
  } else {
    choice.kind = StepperKind::automatic;
    why << " > " << threshold << ": may be stiff; dopri5, switching to bdf with "
        << (dense ? "a dense Jacobian" : "GMRES") << " (state size " << n
        << (dense ? " <= " : " > ") << "stiff.dense_max_size = " << options.stiff.dense_max_size
        << ") in stiff phases";
  }
  if (options.time != TimeVariable::automatic) {
    choice.time = options.time;
    why << "; " << to_string(options.time) << " time (given)";
  } else if (options.max_step > 0) {
    choice.time = TimeVariable::flow;
    why << "; flow time (max_step bounds flow-time steps)";
  } else {
    choice.similarity = measure_self_similarity(system, x0, times.front(), &choice.rhs);
    const SelfSimilarity& s = choice.similarity;
    choice.time = s.holds ? TimeVariable::log : TimeVariable::flow;
    why.precision(3);
    why << "; |f| scales like degree " << s.low << " below x0 and " << s.high << " above (|f(x0)| / |f(x0/2)|, "
        << "|f(2 x0)| / |f(x0)|, log2; spread " << std::abs(s.high - s.low) << "): ";
    if (s.holds)
      why << "self-similar of degree > 1 (spread <= " << self_similar_spread
          << ": far from the data), a power-law collapse: log time";
    else
      why << "not self-similar (needs both >= " << self_similar_degree << " and within " << self_similar_spread
          << "): flow time";
  }
  choice.reason = why.str();
  return choice;
}

/// What AutoStepper did, for the Summary.
struct AutoReport {
  std::string used;  ///< "dopri5 + bdf (GMRES)", or "dopri5" if it never switched
  std::string log;   ///< the switches, with times and the numbers behind them
  int switches = 0;
};

/// The cost of bdf's work in right-hand-side units (the measured cost the
/// switching rule compares; docs/steppers.md, "auto"): a Jacobian-vector
/// product costs about one right-hand side (Example 1.1: ~21 us against
/// 25-43 us), a preconditioner application ~1.5 (bdf.hpp's Preconditioner:
/// ~30 us), a dense Jacobian in closed form 7 (docs/steppers.md: ~60 us
/// against ~9 us for a right-hand side on Example 1.1's reduced 30 x 2
/// state) and an LU of I - c h J about 1 (n^3 / 3 = 72,000 flops at n = 60;
/// dense only up to stiff.dense_max_size entries; a Jacobian assembled from
/// products is already counted in jvp).
struct StiffCostWeights {
  static constexpr double jvp = 1.0;
  static constexpr double preconditioner = 1.5;
  static constexpr double closed_form_jacobian = 7.0;
  static constexpr double factorization = 1.0;
};

/// BDF's admissible step in the current time variable, predicted from
/// accepted points of another stepper (newest first): for order k, the
/// step error estimate bdf.hpp uses is |nabla^{k+1} y| / (k + 1) at
/// spacing h, ~ h^{k+1} k! |y[t_0..t_{k+1}]| (the divided difference of
/// k + 2 points), in the weighted maximum norm; the admissible h makes it
/// 1 with bdf's safety factor 0.9. Returns the largest over k = 1..5 (bdf
/// picks its order the same way) and that order; h = 0 with fewer than 3
/// points. Noise in the points (each carries an error ~ rtol) only inflates
/// the differences, so the prediction errs towards shorter bdf steps.
struct BdfPrediction {
  double h = 0;
  int order = 0;
  /// The same model at order 4 (error ~ h^5 4! |y[t_0..t_5]|): the step
  /// of a fifth-order method up to a constant, which is how `auto`
  /// follows dopri5's accuracy-bound step while bdf runs (calibrated
  /// against dopri5's own steps when it last ran). 0 with fewer than 6 points.
  double h4 = 0;
};

inline BdfPrediction predict_bdf_step(const std::vector<std::pair<double, Matrix>>& points, double rtol,
                                      double atol) {
  BdfPrediction best;
  const std::size_t n = points.size();
  if (n < 3) return best;
  // Newton's divided-difference table, column by column: dd[i] holds
  // y[t_i .. t_{i+j}] after column j.
  std::vector<Matrix> dd;
  dd.reserve(n);
  for (const auto& p : points) dd.push_back(p.second);
  const Matrix& y0 = points.front().second;
  double factorial = 1;  // k!
  for (std::size_t j = 1; j < n; ++j) {
    for (std::size_t i = 0; i + j < n; ++i) {
      const double span = points[i].first - points[i + j].first;
      if (!(std::abs(span) > 0)) return best;
      dd[i] = (dd[i] - dd[i + 1]) / span;
    }
    const int k = static_cast<int>(j) - 1;  // dd[0] = y[t_0..t_{k+1}]
    if (k < 1) continue;
    factorial *= k;
    const double c = factorial * detail::weighted_max_norm(dd[0], y0, y0, rtol, atol);
    if (!std::isfinite(c)) break;
    const double h = c > 0 ? 0.9 * std::pow(1.0 / c, 1.0 / (k + 1)) : std::numeric_limits<double>::infinity();
    if (k == 4) best.h4 = h;
    if (h > best.h) {
      best.h = h;
      best.order = k;
    }
    if (k == 5) break;
  }
  return best;
}

template <class System>
class AutoStepper {
public:
  /// Accepted steps between stiffness checks.
  static constexpr int check = 20;
  /// The first check after switching to BDF comes after this many windows:
  /// BDF restarts at order 1 with small steps, and judging it on those
  /// alone sent it back to dopri5 four times in the first 2e-5 time units
  /// of the rank-30 norm-1e3 benchmark problem (docs/performance.md). Only
  /// the last window is judged (the first ones are its order build-up).
  static constexpr int first_stiff_windows = 3;
  /// Hysteresis: dopri5 -> bdf on accuracy grounds only when bdf's predicted
  /// cost per unit time is below dopri5's measured one divided by this, and
  /// bdf -> dopri5 only when bdf's measured cost is above dopri5's times
  /// this; a pair of switches needs the costs to move by its square.
  static constexpr double margin = 1.5;
  /// bdf's cost per step (rhs units) before any bdf window measured it:
  /// right-hand sides per step (1.2-1.4 measured on the benchmark's bdf
  /// runs, rejected steps included) plus, with GMRES, ~3 products per step
  /// (2.1-2.3 with the preconditioner, 4-6 without).
  static constexpr double prior_rhs_per_step = 1.4;
  static constexpr double prior_krylov_per_step = 3.0;
  /// The accuracy-bound switch only for a declared symmetric Jacobian
  /// (a real spectrum: the factor flow, reduced or batched). On oscillatory
  /// solutions bdf's orders 3-5 (not stable near the imaginary axis) may
  /// take fewer evaluations but lose accuracy: on a rotation (tests/
  /// test_auto_switch.cpp) bdf alone took 370,000 evaluations against
  /// dopri5's 1,060,000, with a global error of 2.5e-4 against 1.9e-6.
  static constexpr bool accuracy_switch = detail::has_symmetric_jacobian<System>();

  /// `map`: in log time, the driver's s to flow time, for the report.
  AutoStepper(System& system, const IntegrateOptions& options, const SpectralEstimate& start,
              StiffStats* stats, std::uint64_t* jvp_counter, AutoReport* report, const TimeMap* map = nullptr)
      : system_(&system), options_(options), stats_(stats), jvp_(jvp_counter), report_(report), map_(map),
        dopri_(boost::numeric::odeint::make_controlled(options.atol, options.rtol, Dopri5())),
        stiff_(system, options, stats, jvp_counter), warm_(start.vector), rho_(start.stiffness) {
    if (report_) report_->used = "dopri5";
  }

  template <class Rhs>
  boost::numeric::odeint::controlled_step_result try_step(Rhs& rhs, Matrix& x, double& t,
                                                          double& dt) {
    using boost::numeric::odeint::fail;
    using boost::numeric::odeint::success;
    auto counted = [&](const Matrix& a, Matrix& b, double tt) {
      ++evaluations_;
      rhs(a, b, tt);
    };
    const double h = dt;
    if (!stiff_mode_) {
      const Matrix before = x;
      const double t_before = t;
      const auto result = dopri_.try_step(counted, x, t, dt);
      if (result == success && !x.allFinite()) {
        x = before;
        t = t_before;
        dt = 0.1 * h;
        dopri_.reset();
        reason_ = "dopri5 produced a non-finite state";
        return fail;
      }
      if (result != success) {
        reason_ = "dopri5: the flow is too stiff for an explicit stepper at rtol = " +
                  std::to_string(options_.rtol);
        return result;
      }
      remember(x, t);
      window_h_ = std::max(window_h_, h);
      if (++window_steps_ >= wait_) {
        // Skip the estimate while the steps are far below the last known
        // stability bound (accuracy-limited), but re-measure every tenth
        // window in case rho has grown.
        if (window_h_ * rho_ >= 0.25 || ++skipped_ >= 10) {
          skipped_ = 0;
          estimate(x);
        }
        const double span = std::max(t - window_t_, 1e-300);
        const double dopri_cost = static_cast<double>(evaluations_ - window_rhs_) / span;
        if (window_h_ * rho_ >= 1.0) {
          std::ostringstream m;
          m.precision(3);
          m << when(t) << ": dopri5 -> bdf (dopri5 steps up to " << window_h_
            << " at rho ~ " << rho_ << ": h rho = " << window_h_ * rho_ << " >= 1, stability-bound)";
          dopri_cost_ = dopri_cost;
          dopri_h4_ = 0;  // stability-bound: its cost follows rho, not the order-4 model
          go_stiff(x, m.str());
        } else if (accuracy_switch) {
          // Accuracy-bound: dopri5's measured cost against bdf's predicted
          // one, (cost per bdf step) / (bdf's admissible step from the
          // last accepted dopri5 points).
          const BdfPrediction p = predict_bdf_step(recent_, options_.rtol, options_.atol);
          dopri_h4_ = p.h4;
          const double per_step = bdf_per_step(x.size());
          const double bdf_cost = p.h > 0 ? per_step / p.h : std::numeric_limits<double>::infinity();
          if (margin * bdf_cost < dopri_cost) {
            std::ostringstream m;
            m.precision(3);
            m << when(t) << ": dopri5 -> bdf (accuracy-bound, h rho = " << window_h_ * rho_
              << " < 1: dopri5 spent " << dopri_cost << " right-hand sides per unit time; bdf predicted "
              << per_step << " per step (" << (bdf_measured_ ? "measured" : "prior") << ") / h = " << p.h
              << " (order " << p.order << ", from the last " << recent_.size() << " dopri5 points) = "
              << bdf_cost << ", < 1/" << margin << " of it)";
            dopri_cost_ = dopri_cost;
            go_stiff(x, m.str());
          }
        }
        start_window(t);
        if (stiff_mode_) ramp_ = first_stiff_windows - 1;
      }
      return success;
    }

    const auto result = stiff_.try_step(counted, x, t, dt);
    if (result != success) {
      reason_ = stiff_.failure_reason();
      return result;
    }
    remember(x, t);
    if (++window_steps_ >= wait_) {
      const double spent = (stiff_cost() - window_cost_) / std::max(t - window_t_, 1e-300);
      const double per_step = (stiff_cost() - window_cost_) / window_steps_;
      if (ramp_ > 0) {
        // BDF's order build-up after a switch: not judged.
        --ramp_;
        start_window(t);
        return success;
      }
      bdf_per_step_ = per_step;
      bdf_measured_ = true;
      // dopri5 costs at least its stability bound, 7 rho / 1.5 (7
      // evaluations per step at h <= 1.5 / rho), and at least its accuracy
      // cost: what it measured before the switch, scaled by how its
      // accuracy-bound step (the order-4 model on bdf's last points,
      // against the same model on dopri5's points then) changed since.
      // While bdf spends less than margin times the latter, rho is not needed.
      double accuracy_cost = dopri_cost_;
      if (dopri_h4_ > 0) {
        const double h4 = predict_bdf_step(recent_, options_.rtol, options_.atol).h4;
        if (h4 > 0) accuracy_cost = dopri_cost_ * dopri_h4_ / h4;
      }
      bool back = false;
      double explicit_cost = accuracy_cost;
      if (!(spent <= margin * accuracy_cost)) {
        estimate(x);
        explicit_cost = std::max(7.0 * rho_ / 1.5, accuracy_cost);
        back = spent > margin * explicit_cost;
      }
      if (back) {
        std::ostringstream m;
        m.precision(3);
        m << when(t) << ": bdf -> dopri5 (bdf spent " << spent << " per unit time (" << per_step
          << " per step) > " << margin << " x max(7 rho / 1.5 = " << 7.0 * rho_ / 1.5
          << ", dopri5's accuracy cost " << accuracy_cost << ") = " << margin * explicit_cost << ")";
        log(m.str());
        stiff_mode_ = false;
        dopri_.reset();
        recent_.clear();
        backoff_ *= 2;
      }
      start_window(t);
    }
    return success;
  }

  std::string failure_reason() const { return reason_; }

private:
  using Dopri5 = boost::numeric::odeint::runge_kutta_dopri5<Matrix, double, Matrix, double,
                                                            boost::numeric::odeint::vector_space_algebra>;
  using ControlledDopri5 = decltype(boost::numeric::odeint::make_controlled(0.0, 0.0, Dopri5()));

  std::uint64_t jvps() const { return jvp_ ? *jvp_ : 0; }

  /// bdf's work so far in right-hand-side units (StiffCostWeights).
  double stiff_cost() const {
    double c = static_cast<double>(evaluations_) + StiffCostWeights::jvp * static_cast<double>(jvps());
    if (stats_)
      c += StiffCostWeights::preconditioner * static_cast<double>(stats_->preconditioner_applications) +
           StiffCostWeights::closed_form_jacobian * static_cast<double>(stats_->analytic_jacobians) +
           StiffCostWeights::factorization * static_cast<double>(stats_->factorizations);
    return c;
  }

  /// bdf's cost per step: measured in its last judged window, else the prior.
  double bdf_per_step(Index n) const {
    if (bdf_measured_) return bdf_per_step_;
    return prior_rhs_per_step + (detail::uses_dense_jacobian(n, options_.stiff) ? 0.0 : prior_krylov_per_step);
  }

  void remember(const Matrix& x, double t) {
    if (recent_.size() == 7) recent_.pop_back();
    recent_.insert(recent_.begin(), {t, x});
  }

  void go_stiff(const Matrix& x, const std::string& line) {
    log(line);
    stiff_mode_ = true;
    stiff_.invalidate_jacobian();
    if (report_)
      report_->used = std::string("dopri5 + bdf") +
                      (detail::uses_dense_jacobian(x.size(), options_.stiff) ? " (dense Jacobian)" : " (GMRES)");
  }

  void start_window(double t) {
    window_steps_ = 0;
    window_h_ = 0;
    window_t_ = t;
    window_rhs_ = evaluations_;
    window_cost_ = stiff_cost();
    wait_ = stiff_mode_ ? check : check * backoff_;
  }

  void estimate(const Matrix& x) {
    const SpectralEstimate est =
        estimate_stiffness(*system_, x, options_.stiff.spectral_iterations, jvp_, warm_.size() ? &warm_ : nullptr);
    if (std::isfinite(est.stiffness)) rho_ = est.stiffness;
    warm_ = est.vector;
    if (stats_) {
      ++stats_->spectral_estimates;
      stats_->spectral_radius_last = rho_;
      stats_->spectral_radius_max = std::max(stats_->spectral_radius_max, rho_);
    }
  }

  /// "t = ..." in flow time; in log time also s, the unit of h, rho and
  /// the rates in the same line.
  std::string when(double t) const {
    std::ostringstream m;
    m.precision(3);
    if (map_ && !map_->identity()) m << "t = " << map_->flow_time(t) << " (s = " << t << ", numbers in s)";
    else m << "t = " << t;
    return m.str();
  }

  void log(const std::string& line) {
    if (!report_) return;
    ++report_->switches;
    if (report_->switches <= 8) report_->log += (report_->log.empty() ? "" : "; ") + line;
    else if (report_->switches == 9) report_->log += "; ... (later switches not listed)";
  }

  System* system_;
  IntegrateOptions options_;
  StiffStats* stats_;
  std::uint64_t* jvp_;
  AutoReport* report_;
  const TimeMap* map_;
  ControlledDopri5 dopri_;
  BdfStepper<System> stiff_;
  Matrix warm_;
  double rho_ = 0;
  bool stiff_mode_ = false;
  std::uint64_t evaluations_ = 0;
  /// The last accepted dopri5 points (t, x), newest first, for predict_bdf_step.
  std::vector<std::pair<double, Matrix>> recent_;
  double dopri_cost_ = 0;      ///< dopri5's measured right-hand sides per unit time before the last switch
  double dopri_h4_ = 0;        ///< the order-4 step model on dopri5's points then (0: stability-bound)
  double bdf_per_step_ = 0;    ///< bdf's measured cost per step (rhs units), last judged window
  bool bdf_measured_ = false;
  int ramp_ = 0;               ///< bdf windows still to skip before judging
  // The current window between checks.
  int window_steps_ = 0;
  int wait_ = check;
  int backoff_ = 1;
  int skipped_ = 0;
  double window_h_ = 0;
  double window_t_ = 0;
  std::uint64_t window_rhs_ = 0;
  double window_cost_ = 0;
  std::string reason_;
};

}  // namespace flowsense
