// Stop rules and the driver's bookkeeping: a stopped run says why and where,
// keeps its recorded rows, and (for divergence) the last finite state.
// Numerical outcomes are statuses; only bad arguments throw.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/integrate_impl.hpp"  // detail::all_finite
#include "flowsense/integrate/stop_rules.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "oracles.hpp"

using namespace flowsense;
using Catch::Matchers::Contains;

namespace {

constexpr Index d = 8, m = 60;

/// Paper 000's setting at a small size: s = 1, c = 1/4, rank-2 trace-1 X♮.
struct Setting {
  Problem problem;
  SensingLoss loss;
  Matrix U0;
  Setting()
      : problem(Problem::noiseless(std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 61),
                                   planted_trace_one(d, 2, 62))),
        loss(problem, loss_constant::paper000),
        U0(random_factor(d, d, d, 1.0, 63)) {}
};

IntegrateOptions dopri5() {
  IntegrateOptions o;
  o.stepper = StepperKind::dopri5;
  o.rtol = 1e-8;
  o.atol = 1e-12;
  return o;
}

/// The step number N in a message "... step N ...".
long step_in(const std::string& message) {
  std::smatch match;
  if (!std::regex_search(message, match, std::regex("step ([0-9]+)"))) return -1;
  return std::stol(match[1]);
}

}  // namespace

TEST_CASE("training error below a level: target_reached, rows kept", "[stop_rules]") {
  Setting s;
  const double initial = s.loss.training_error(s.U0);
  for (bool relative : {false, true}) {
    INFO((relative ? "relative level" : "absolute level"));
    const double threshold = 1e-4 * initial;
    const double level = relative ? threshold / s.problem.b.squaredNorm() : threshold;
    FactorFlow flow(s.loss);
    Recorder recorder(s.loss, StateKind::factor, standard_metrics(&s.problem.planted));
    Watch watch{recorder.observer(), {std::make_shared<TrainingErrorBelow>(s.loss, StateKind::factor, level, relative)}};
    Matrix U = s.U0;
    const auto times = log_times(1e-3, 1e3, 60);
    const Summary summary = integrate(flow, U, times, dopri5(), watch);
    recorder.finish(summary);
    INFO(summary.message);
    REQUIRE(summary.termination == Termination::target_reached);
    CHECK(summary.ok());
    CHECK_THAT(summary.message, Contains("fell below"));
    CHECK(summary.last.t < times.back());

    // Every observation before the stop was above the level (the rule is
    // asked after every accepted step), the stopping point is recorded last,
    // and the state handed back is the one that met the target.
    const auto& trajectory = recorder.trajectory();
    const auto err = trajectory.column("training_error");
    const auto t = trajectory.column("t");
    REQUIRE(err.size() >= 3);
    for (std::size_t k = 0; k + 1 < err.size(); ++k) CHECK(err[k] >= threshold);
    CHECK(err.back() < threshold);
    CHECK(t.back() == summary.last.t);
    CHECK(s.loss.training_error(U) == err.back());
    CHECK(trajectory.summary.termination == Termination::target_reached);
  }
}

TEST_CASE("the driver's finiteness check agrees with Eigen's allFinite entry by entry", "[stop_rules][divergence]") {
  // detail::all_finite (one pass: the sum of x * 0) against Eigen's
  // allFinite(): one bad entry anywhere, of each kind, next to the largest
  // finite values (whose products with 0 must not overflow) and -0.
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double big = std::numeric_limits<double>::max();
  CHECK(detail::all_finite(Matrix(0, 0)));
  Matrix X = Matrix::Constant(7, 3, big);
  X(1, 1) = -big;
  X(2, 0) = -0.0;
  X(3, 2) = std::numeric_limits<double>::denorm_min();
  REQUIRE(X.allFinite());
  CHECK(detail::all_finite(X));
  for (const double bad : {inf, -inf, nan}) {
    for (Index i = 0; i < X.size(); ++i) {
      Matrix Y = X;
      Y.data()[i] = bad;
      INFO("entry " << i << " = " << bad);
      CHECK_FALSE(Y.allFinite());
      CHECK_FALSE(detail::all_finite(Y));
    }
  }
}

TEST_CASE("a too large GD step diverges: diverged, last finite state kept, where in the message",
          "[stop_rules][divergence]") {
  Setting s;
  // eta = h / 8 = 0.0625 is ~1000x paper 000's rate: the iterates blow up
  // (each step multiplies U by ~h ||A||^2 ||U||^2) and overflow within steps.
  // h = 0.3 from t0 = 0.7: the kept time must be the recorded t0 + (N-1) h,
  // which t - h does not reproduce for a non-dyadic step.
  const auto [t0, h] = GENERATE(std::pair{0.0, 0.5}, std::pair{0.7, 0.3});
  INFO("t0 = " << t0 << ", h = " << h);
  IntegrateOptions options;
  options.stepper = StepperKind::euler;
  options.step = h;
  FactorFlow flow(s.loss);
  Recorder recorder(s.loss, StateKind::factor, {std::make_shared<TimeMetric>()});
  Matrix U = s.U0;
  const Summary summary = integrate(flow, U, {t0, t0 + 1000 * h}, options, {recorder.observer()});
  recorder.finish(summary);
  INFO(summary.message);
  REQUIRE(summary.termination == Termination::diverged);
  CHECK_FALSE(summary.ok());
  CHECK_THAT(summary.message, Contains("non-finite"));
  CHECK_THAT(summary.message, Contains("t = "));
  CHECK(U.allFinite());

  // The message names the failing step N; the run reports step N - 1 and its
  // time, the last finite state.
  const long failing = step_in(summary.message);
  REQUIRE(failing >= 1);
  CHECK(summary.last.steps == static_cast<std::uint64_t>(failing - 1));
  CHECK(summary.last.t == t0 + static_cast<double>(failing - 1) * h);

  // That state is exactly the Euler iterate N - 1 (a run that stops there).
  Matrix V = s.U0;
  if (failing > 1) {
    const Summary again = integrate(flow, V, {t0, t0 + static_cast<double>(failing - 1) * h}, options, {});
    REQUIRE(again.termination == Termination::completed);
  }
  CHECK(V == U);

  // Rows recorded so far are kept and the last one is the kept state.
  const auto t = recorder.trajectory().column("t");
  REQUIRE(t.size() == 2);  // t0 and the stopping point
  CHECK(t.front() == t0);
  CHECK(t.back() == summary.last.t);
}

TEST_CASE("NormAbove stops an exploding run with diverged", "[stop_rules][divergence]") {
  // Full observation, Z = 4 I: from a small start U grows to ||U||_F = 2 sqrt(d).
  const Index dd = 4;
  const SensingLoss loss(
      Problem::noiseless(std::make_shared<FullObservation>(dd), Matrix(4.0 * Matrix::Identity(dd, dd))), 0.5);
  const Matrix U0 = random_factor(dd, dd, dd, 0.01, 64);
  const auto times = linear_times(0.0, 5.0, 51);
  SECTION("the rule fires when the norm crosses the bound") {
    FactorFlow flow(loss);
    Recorder recorder(loss, StateKind::factor, {std::make_shared<TimeMetric>()});
    Matrix U = U0;
    const Summary summary =
        integrate(flow, U, times, dopri5(), {recorder.observer(), {std::make_shared<NormAbove>(1.0)}});
    INFO(summary.message);
    REQUIRE(summary.termination == Termination::diverged);
    CHECK_THAT(summary.message, Contains("exceeded"));
    CHECK(U.norm() > 1.0);
    CHECK(summary.last.t < times.back());
    CHECK(recorder.trajectory().rows.size() >= 2);
  }
  SECTION("a bound above the limit never fires") {
    FactorFlow flow(loss);
    Matrix U = U0;
    const Summary summary = integrate(flow, U, times, dopri5(), {{}, {std::make_shared<NormAbove>(100.0)}});
    CHECK(summary.termination == Termination::completed);
    CHECK_THAT(U.norm(), Catch::Matchers::WithinRel(4.0, 1e-3));  // ~ ||Z^(1/2)||_F at t = 5
  }
  CHECK_THROWS_AS(NormAbove(0.0), std::invalid_argument);
}

TEST_CASE("Budget: step, right-hand-side and wall-time budgets", "[stop_rules][budget]") {
  Setting s;
  const auto times = linear_times(0.0, 100.0, 11);
  SECTION("steps") {
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    const Summary summary = integrate(flow, U, times, dopri5(), {{}, {std::make_shared<Budget>(25, 0, 0.0)}});
    INFO(summary.message);
    CHECK(summary.termination == Termination::budget_exhausted);
    CHECK(summary.last.steps == 25);
    CHECK(step_in(summary.message) == 25);
  }
  SECTION("right-hand sides") {
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    const Summary summary = integrate(flow, U, times, dopri5(), {{}, {std::make_shared<Budget>(0, 100, 0.0)}});
    INFO(summary.message);
    CHECK(summary.termination == Termination::budget_exhausted);
    // Checked after each accepted step, which costs 6 evaluations (dopri5 is
    // FSAL) plus 6 per rejected try: the budget is met within one step.
    CHECK(summary.last.rhs >= 100);
    CHECK(summary.last.rhs < 100 + 6 * (1 + summary.last.rejected + 1));
  }
  SECTION("wall time") {
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    const Summary summary = integrate(flow, U, times, dopri5(), {{}, {std::make_shared<Budget>(0, 0, 1e-9)}});
    INFO(summary.message);
    CHECK(summary.termination == Termination::budget_exhausted);
    CHECK(summary.last.steps == 1);
  }
}

TEST_CASE("the cancel flag interrupts a run", "[stop_rules][cancel]") {
  Setting s;
  const auto times = linear_times(0.0, 10.0, 101);
  SECTION("set by an observer mid-run") {
    std::atomic<bool> cancel{false};
    std::vector<double> seen;
    Watch watch;
    watch.observe = [&](const Matrix&, const StepInfo& info) {
      seen.push_back(info.t);
      if (seen.size() == 3) cancel = true;
    };
    watch.cancel = &cancel;
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    const Summary summary = integrate(flow, U, times, dopri5(), watch);
    INFO(summary.message);
    CHECK(summary.termination == Termination::interrupted);
    CHECK_THAT(summary.message, Contains("interrupted"));
    // Stopped at the first accepted step after the third observation (t = 0.2).
    CHECK(summary.last.t > times[2]);
    CHECK(summary.last.t <= times[3]);
    CHECK(seen.size() == 4);  // three observations and the stopping point
    CHECK(U.allFinite());
  }
  SECTION("set before the run: one step, then stop") {
    std::atomic<bool> cancel{true};
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    Watch watch;
    watch.cancel = &cancel;
    const Summary summary = integrate(flow, U, times, dopri5(), watch);
    CHECK(summary.termination == Termination::interrupted);
    CHECK(summary.last.steps == 1);
  }
}

TEST_CASE("Stagnation stops a run that stands still", "[stop_rules][stagnation]") {
  Setting s;
  // U = 0 is a critical point: grad G(0) = 0, so the flow never moves and
  // the training error stays ||b||^2.
  FactorFlow flow(s.loss);
  Matrix U = Matrix::Zero(d, d);
  const Summary summary = integrate(flow, U, linear_times(0.0, 10.0, 11), dopri5(),
                                    {{}, {std::make_shared<Stagnation>(s.loss, StateKind::factor, 1.0, 1e-6)}});
  INFO(summary.message);
  CHECK(summary.termination == Termination::stagnated);
  CHECK(summary.last.t >= 1.0);
  CHECK(summary.last.t < 10.0);
  CHECK(U.isZero(0.0));
}

TEST_CASE("invalid IntegrateOptions throw std::invalid_argument naming the field and value",
          "[stop_rules][options]") {
  Setting s;
  CHECK(IntegrateOptions{}.validate().empty());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Bad {
    const char* field;
    double IntegrateOptions::*member;
    double value;
    const char* shown;
  };
  const std::vector<Bad> bad = {
      {"step", &IntegrateOptions::step, 0.0, "got 0"},
      {"step", &IntegrateOptions::step, -1e-3, "got -0.001"},
      {"step", &IntegrateOptions::step, nan, "got nan"},
      {"step", &IntegrateOptions::step, inf, "got inf"},
      {"rtol", &IntegrateOptions::rtol, 0.0, "got 0"},
      {"rtol", &IntegrateOptions::rtol, -1e-8, "got -1e-08"},
      {"rtol", &IntegrateOptions::rtol, nan, "got nan"},
      {"atol", &IntegrateOptions::atol, -1.0, "got -1"},
      {"atol", &IntegrateOptions::atol, nan, "got nan"},
      {"max_step", &IntegrateOptions::max_step, -1.0, "got -1"},
      {"max_step", &IntegrateOptions::max_step, nan, "got nan"},
  };
  for (const auto& b : bad) {
    IntegrateOptions options;
    options.*(b.member) = b.value;
    INFO(b.field << " = " << b.value << ": " << options.validate());
    CHECK_THAT(options.validate(), Contains(b.field) && Contains(b.shown));
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    try {
      integrate(flow, U, {0.0, 1.0}, options, {});
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Contains(b.field) && Contains(b.shown));
    }
    CHECK(U == s.U0);  // nothing happened
  }
}

TEST_CASE("observation times must be strictly increasing; the start finite", "[stop_rules][options]") {
  Setting s;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const std::vector<double>& times :
       std::vector<std::vector<double>>{{0.0, 1.0, 1.0}, {0.0, 2.0, 1.0}, {1.0, 0.0}, {0.0, nan}}) {
    INFO("times of size " << times.size() << ", last " << times.back());
    FactorFlow flow(s.loss);
    Matrix U = s.U0;
    CHECK_THROWS_AS(integrate(flow, U, times, dopri5(), {}), std::invalid_argument);
    CHECK_THROWS_WITH(integrate(flow, U, times, dopri5(), {}), Contains("strictly increasing"));
  }
  FactorFlow flow(s.loss);
  Matrix U = s.U0;
  CHECK_THROWS_AS(integrate(flow, U, {}, dopri5(), {}), std::invalid_argument);
  U(0, 0) = nan;
  CHECK_THROWS_WITH(integrate(flow, U, {0.0, 1.0}, dopri5(), {}), Contains("not finite"));
}

namespace {

/// Feeds `rule` accepted steps of the sizes step(k) (k = 1, 2, ...) up to
/// `max_steps`; returns the step at which it stopped, or 0.
template <class StepSize>
std::uint64_t feed(Crawl& rule, StepSize step, std::uint64_t max_steps) {
  const Matrix dummy = Matrix::Zero(1, 1);
  StepInfo info;
  for (std::uint64_t k = 1; k <= max_steps; ++k) {
    info.h = step(k);
    info.t += info.h;
    info.steps = k;
    if (rule.check(dummy, info)) return k;
  }
  return 0;
}

}  // namespace

TEST_CASE("Crawl stops a run pinned at tiny steps, and only that", "[stop_rules][crawl]") {
  // Window 100, min mean step 1e-3, horizon t = 1e3, more than 1e4 steps left.
  SECTION("constant tiny steps: the 2nd and 3rd windows strike (the 1st only sets the pace)") {
    Crawl rule(1e3, 100, 1e-3, 1e4);
    CHECK(feed(rule, [](std::uint64_t) { return 1e-6; }, 10000) == 300);
  }
  SECTION("the stop says budget_exhausted, the pace and what is left") {
    Crawl rule(1e3, 100, 1e-3, 1e4);
    const Matrix dummy = Matrix::Zero(1, 1);
    StepInfo info;
    std::optional<StopReason> r;
    for (std::uint64_t k = 1; k <= 300 && !r; ++k) {
      info.t += 1e-6;
      info.steps = k;
      r = rule.check(dummy, info);
    }
    REQUIRE(r);
    CHECK(r->termination == Termination::budget_exhausted);
    CHECK_THAT(r->message, Contains("1e-06 < 0.001"));
  }
  SECTION("a run speeding up (the pace doubling every window) is left alone") {
    Crawl rule(1e3, 100, 1e-3, 1e4);
    CHECK(feed(rule, [](std::uint64_t k) { return 1e-9 * std::pow(2.0, static_cast<double>(k) / 90.0); }, 3000) == 0);
  }
  SECTION("steps above min_mean_step never count") {
    Crawl rule(1e6, 100, 1e-3, 0);
    CHECK(feed(rule, [](std::uint64_t) { return 2e-3; }, 5000) == 0);
  }
  SECTION("close to the horizon (few steps left) it lets the run finish") {
    Crawl rule(1e-3, 100, 1e-3, 1e4);  // at 1e-6 per step the horizon is 1000 steps away
    CHECK(feed(rule, [](std::uint64_t) { return 1e-6; }, 999) == 0);
  }
  SECTION("bad arguments throw") {
    CHECK_THROWS_AS(Crawl(1.0, 0, 1e-3, 0), std::invalid_argument);
    CHECK_THROWS_AS(Crawl(1.0, 10, 0.0, 0), std::invalid_argument);
    CHECK_THROWS_AS(Crawl(0.0, 10, 1e-3, 0), std::invalid_argument);
  }
}
