// Log time (integrate/log_time.hpp): t = t0 + tau (e^s - 1).
//
// Oracles: the closed form of the cubic collapse x' = -x^3 (the scalar
// version of the flow far from the data, self-similar: x ~ (2t)^(-1/2)),
// dopri5 in flow time at a much tighter tolerance on the factor flow from a
// norm-1e2 start, and the observation grid (every flow time is reported
// exactly). The step-count comparison is a count, not a timing: it is the
// reason the option exists (a power law costs a few steps per decade in s).
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/flow/reduced_flow.hpp"
#include "flowsense/integrate/integrate_impl.hpp"
#include "flowsense/integrate/stop_rules.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::CubicCollapse;
using oracle::relative_error;

namespace {

struct Run {
  Summary summary;
  std::vector<Matrix> states;
  std::vector<double> times;
};

template <class System>
Run run(System& system, Matrix state, const std::vector<double>& times, const IntegrateOptions& o,
        std::vector<std::shared_ptr<StopRule>> rules = {}) {
  Run r;
  Watch watch;
  watch.observe = [&](const Matrix& s, const StepInfo& i) {
    r.states.push_back(s);
    r.times.push_back(i.t);
  };
  watch.stop_rules = std::move(rules);
  r.summary = integrate(system, state, times, o, watch);
  return r;
}

IntegrateOptions options(StepperKind stepper, TimeVariable time, double rtol = 1e-8) {
  IntegrateOptions o;
  o.stepper = stepper;
  o.rtol = rtol;
  o.atol = 1e-12;
  o.step = 1e-9;
  o.time = time;
  return o;
}

/// Stops once the flow time passes `at` (and records what it was shown).
class StopAfter : public StopRule {
public:
  explicit StopAfter(double at) : at_(at) {}
  std::optional<StopReason> check(const Matrix&, const StepInfo& info) override {
    seen.push_back(info.t);
    if (info.t > at_) return StopReason{Termination::target_reached, "past " + std::to_string(at_)};
    return std::nullopt;
  }
  std::string describe() const override { return "stop after t = " + std::to_string(at_); }
  std::vector<double> seen;

private:
  double at_;
};

}  // namespace

TEST_CASE("log time: the cubic collapse from 1e3 matches its closed form in far fewer steps", "[log_time]") {
  // x0 spans 1e1 .. 1e3, T = 10: six decades of self-similar decay
  // (1 / (2 x0^2) = 5e-7 is where the collapse starts). Global error
  // against the closed form within 100 rtol, as the other steppers' tests
  // require; the step counts are deterministic.
  CubicCollapse sys;
  Matrix x0(2, 2);
  x0 << 1e3, 3e2, 1e2, 1e1;
  const std::vector<double> times = {0.0, 1e-4, 1e-2, 1.0, 10.0};
  for (StepperKind stepper : {StepperKind::bdf, StepperKind::dopri5}) {
    const Run flow = run(sys, x0, times, options(stepper, TimeVariable::flow));
    const Run log = run(sys, x0, times, options(stepper, TimeVariable::log));
    INFO(to_string(stepper) << ": flow time " << flow.summary.last.steps << " steps, log time "
                            << log.summary.last.steps << " steps; " << log.summary.stepper_choice);
    REQUIRE(flow.summary.ok());
    REQUIRE(log.summary.ok());
    REQUIRE(log.states.size() == times.size());
    for (std::size_t j = 1; j < times.size(); ++j) {
      const double e = relative_error(log.states[j], CubicCollapse::exact(x0, times[j]));
      INFO("t = " << times[j] << ": error " << e);
      CHECK(e < 100 * 1e-8);
    }
    // bdf is held by accuracy in flow time (h ~ 0.01 t at order 5), and
    // log time is what helps it; dopri5 is held by stability there
    // (h rho <= 3.3 with rho = 3 x^2 ~ 1/t), so its steps already grow like
    // t and log time changes little.
    if (stepper == StepperKind::bdf) CHECK(2 * log.summary.last.steps < flow.summary.last.steps);  // measured 815 vs 265
  }
}

TEST_CASE("log time: observers, stop rules and the summary see flow time; observation times exactly",
          "[log_time]") {
  CubicCollapse sys;
  const Matrix x0 = Matrix::Constant(1, 1, 1e2);
  const std::vector<double> times = {0.5, 0.5 + 1e-3, 0.6, 0.75, 2.5};  // t0 != 0
  const Run r = run(sys, x0, times, options(StepperKind::bdf, TimeVariable::log));
  REQUIRE(r.summary.ok());
  REQUIRE(r.times == times);
  CHECK(r.summary.last.t == times.back());
  CHECK(r.summary.message == "reached t = 2.5");
  CHECK_THAT(r.summary.stepper_choice, Catch::Contains("tau = 0.1 / rho"));
  // The flow starts at t0 = 0.5: x(t) = x0 / sqrt(1 + 2 x0^2 (t - t0)).
  CHECK(relative_error(r.states.back(), CubicCollapse::exact(x0, 2.0)) < 100 * 1e-8);

  auto stop = std::make_shared<StopAfter>(0.7);
  const Run s = run(sys, x0, times, options(StepperKind::bdf, TimeVariable::log), {stop});
  CHECK(s.summary.termination == Termination::target_reached);
  REQUIRE(!stop->seen.empty());
  for (std::size_t i = 1; i < stop->seen.size(); ++i) CHECK(stop->seen[i] > stop->seen[i - 1]);
  CHECK(stop->seen.front() > 0.5);
  CHECK(s.summary.last.t > 0.7);
  CHECK(s.summary.last.t <= 0.75);  // the next observation time bounds the step
  CHECK(s.summary.last.h > 0);
  CHECK(relative_error(s.states.back(), CubicCollapse::exact(x0, s.summary.last.t - 0.5)) < 100 * 1e-8);
}

TEST_CASE("log time agrees with flow time on the factor flow from a norm-1e2 start, full and reduced",
          "[log_time]") {
  // d = 8, m = 60 Gaussian, planted rank 2, c = 1/4; rank-2 start of norm
  // 1e2 collapses for ~4 decades, then converges. Reference: dopri5 in flow
  // time at rtol 1e-12; bdf in log time at rtol 1e-8 within 100 rtol.
  auto op = std::make_shared<GaussianOperator>(8, 60, GaussianScale::unit, 11);
  FactorFlow flow(SensingLoss(Problem::noiseless(op, planted_trace_one(8, 2, 12)), loss_constant::paper000));
  const Matrix U0 = random_factor(8, 8, 2, 1e2, 13);
  const Matrix L0 = reduce_initial_factor(U0).L;
  const std::vector<double> times = {0.0, 1e-3, 0.1, 5.0};
  IntegrateOptions ref_o = options(StepperKind::dopri5, TimeVariable::flow, 1e-12);
  ref_o.atol = 1e-16;
  const Run ref = run(flow, U0, times, ref_o);
  REQUIRE(ref.summary.ok());
  for (const Matrix* start : {&U0, &L0}) {
    for (StepperKind stepper : {StepperKind::bdf, StepperKind::automatic}) {
      const Run r = run(flow, *start, times, options(stepper, TimeVariable::log));
      INFO((start == &L0 ? "reduced, " : "full, ") << r.summary.stepper_used << ": " << r.summary.stepper_choice
                                                   << "; steps " << r.summary.last.steps);
      REQUIRE(r.summary.ok());
      for (std::size_t j = 1; j < times.size(); ++j) {
        const double e = relative_error(Matrix(r.states[j] * r.states[j].transpose()),
                                        Matrix(ref.states[j] * ref.states[j].transpose()));
        INFO("t = " << times[j] << ": error " << e);
        CHECK(e < 100 * 1e-8);
      }
    }
  }
}

TEST_CASE("log time: a given tau is used; bad combinations are refused with the reason", "[log_time]") {
  CubicCollapse sys;
  const Matrix x0 = Matrix::Constant(1, 1, 10.0);
  IntegrateOptions o = options(StepperKind::bdf, TimeVariable::log);
  o.log_time_scale = 1e-4;
  const Run r = run(sys, x0, {0.0, 1.0}, o);
  REQUIRE(r.summary.ok());
  CHECK_THAT(r.summary.stepper_choice, Catch::Contains("tau = 0.0001 (given)"));
  CHECK(relative_error(r.states.back(), CubicCollapse::exact(x0, 1.0)) < 100 * 1e-8);

  Matrix x = x0;
  o.stepper = StepperKind::euler;
  CHECK_THROWS_WITH(integrate(sys, x, {0.0, 1.0}, o, Watch{}), Catch::Contains("time = log needs an adaptive stepper"));
  o.stepper = StepperKind::bdf;
  o.max_step = 0.1;
  CHECK_THROWS_WITH(integrate(sys, x, {0.0, 1.0}, o, Watch{}), Catch::Contains("max_step"));
  o.max_step = 0;
  o.log_time_scale = -1;
  CHECK_THROWS_WITH(integrate(sys, x, {0.0, 1.0}, o, Watch{}), Catch::Contains("log_time_scale"));
}

// ===========================================================================
// auto chooses the time variable (integrate/auto_stepper.hpp)
// ===========================================================================

namespace {

/// x' = -lambda x: homogeneous of degree 1 (exponential, not a power law).
struct LinearDecay {
  static constexpr bool symmetric_jacobian = true;
  double lambda = 50.0;
  void operator()(const Matrix& x, Matrix& dx, double) const { dx = -lambda * x; }
  void jacobian_vector(const Matrix&, const Matrix& v, Matrix& out) const { out = -lambda * v; }
};

IntegrateOptions automatic(TimeVariable time = TimeVariable::automatic) {
  IntegrateOptions o = options(StepperKind::automatic, TimeVariable::flow);
  o.time = time;
  return o;
}

bool in_log_time(const Summary& s) { return s.stepper_choice.find("log time t = tau") != std::string::npos; }

}  // namespace

TEST_CASE("auto: the measured degree of homogeneity is exact on homogeneous systems", "[log_time][auto]") {
  // f(k x) = k^3 f(x) and k f(x): log2 of the ratios is 3 and 1 up to
  // rounding (a few ulps of the norms, amplified by 1 / ln 2).
  CubicCollapse cubic;
  LinearDecay linear;
  Matrix x0(2, 2);
  x0 << 1e3, 3e2, 1e2, 1e1;
  std::uint64_t evaluations = 0;
  const SelfSimilarity c = measure_self_similarity(cubic, x0, 0.0, &evaluations);
  CHECK(evaluations == 3);
  CHECK(std::abs(c.low - 3) < 1e-12);
  CHECK(std::abs(c.high - 3) < 1e-12);
  CHECK(c.holds);
  const SelfSimilarity l = measure_self_similarity(linear, x0, 0.0);
  CHECK(std::abs(l.low - 1) < 1e-12);
  CHECK(std::abs(l.high - 1) < 1e-12);
  CHECK_FALSE(l.holds);
  // At a fixed point there is nothing to measure: flow time.
  const SelfSimilarity z = measure_self_similarity(cubic, Matrix::Zero(2, 2), 0.0);
  CHECK_FALSE(z.holds);
  CHECK(std::isnan(z.low));
}

TEST_CASE("auto chooses log time for the cubic collapse and flow time for exponential decay", "[log_time][auto]") {
  // The collapse of the first test (six decades of t^(-1/2)): auto in log
  // time follows the closed form within 100 rtol, in fewer steps than auto
  // told to stay in flow time. Exponential decay: flow time (the exact
  // solution e^(-50 t) x0 is the oracle).
  CubicCollapse cubic;
  Matrix x0(2, 2);
  x0 << 1e3, 3e2, 1e2, 1e1;
  const std::vector<double> times = {0.0, 1e-4, 1e-2, 1.0, 10.0};
  const Run chosen = run(cubic, x0, times, automatic());
  const Run flow = run(cubic, x0, times, automatic(TimeVariable::flow));
  INFO(chosen.summary.stepper_choice << "; steps " << chosen.summary.last.steps << " vs flow time "
                                     << flow.summary.last.steps);
  REQUIRE(chosen.summary.ok());
  REQUIRE(flow.summary.ok());
  CHECK(in_log_time(chosen.summary));
  CHECK_THAT(chosen.summary.stepper_choice, Catch::Contains("degree 3 below x0 and 3 above"));
  CHECK_FALSE(in_log_time(flow.summary));
  CHECK_THAT(flow.summary.stepper_choice, Catch::Contains("flow time (given)"));
  for (std::size_t j = 1; j < times.size(); ++j)
    CHECK(relative_error(chosen.states[j], CubicCollapse::exact(x0, times[j])) < 100 * 1e-8);
  CHECK(chosen.summary.last.steps < flow.summary.last.steps);

  LinearDecay linear;
  const Run decay = run(linear, x0, {0.0, 0.1, 1.0}, automatic());
  INFO(decay.summary.stepper_choice);
  REQUIRE(decay.summary.ok());
  CHECK_FALSE(in_log_time(decay.summary));
  CHECK_THAT(decay.summary.stepper_choice, Catch::Contains("not self-similar"));
  CHECK(relative_error(decay.states[1], Matrix(std::exp(-5.0) * x0)) < 100 * 1e-8);
}

TEST_CASE("auto chooses log time far from the data and flow time near it; both agree with dopri5",
          "[log_time][auto]") {
  // The factor flow of the norm-1e2 test above (d = 8, m = 60, planted rank
  // 2): from norm 1e3, ||A(X0)|| >> ||b|| and f is the homogeneous quartic's
  // gradient (degree 3) up to O(||b|| / ||A(X0)||) (spread 5e-7 < 1e-5; from
  // norm 1e2 it is 5e-5: flow time); from norm 1e-3, f is
  // linear in U (degree 1); from norm 1 (X0 of trace 1, the planted
  // matrix's size) it is neither. Reference: dopri5 in flow time at rtol
  // 1e-12; auto at rtol 1e-8 within 100 rtol.
  auto op = std::make_shared<GaussianOperator>(8, 60, GaussianScale::unit, 11);
  FactorFlow flow(SensingLoss(Problem::noiseless(op, planted_trace_one(8, 2, 12)), loss_constant::paper000));
  const std::vector<double> times = {0.0, 1e-3, 0.1, 5.0};
  IntegrateOptions ref_o = options(StepperKind::dopri5, TimeVariable::flow, 1e-12);
  ref_o.atol = 1e-16;
  for (const double norm : {1e3, 1e2, 1.0, 1e-3}) {
    const Matrix U0 = random_factor(8, 8, 2, norm, 13);
    const Run ref = run(flow, U0, times, ref_o);
    REQUIRE(ref.summary.ok());
    const Run r = run(flow, U0, times, automatic());
    INFO("norm " << norm << ": " << r.summary.stepper_used << "; " << r.summary.stepper_choice);
    REQUIRE(r.summary.ok());
    CHECK(in_log_time(r.summary) == (norm > 100));
    const SelfSimilarity s = measure_self_similarity(flow, U0, 0.0);
    INFO("degrees " << s.low << ", " << s.high);
    if (norm != 1.0) {
      CHECK(std::abs(s.low - (norm > 1 ? 3 : 1)) < 1e-3);
      CHECK(std::abs(s.high - (norm > 1 ? 3 : 1)) < 1e-3);
      // ~1 / ||A(X0)||: 100x smaller from a start 10x larger.
      if (norm == 1e2) CHECK(std::abs(s.high - s.low) > 3 * self_similar_spread);
      if (norm == 1e3) CHECK(std::abs(s.high - s.low) < self_similar_spread / 10);
    } else {
      CHECK(std::abs(s.high - s.low) > 0.1);  // far from the rule's bound
    }
    for (std::size_t j = 1; j < times.size(); ++j) {
      const double e = relative_error(Matrix(r.states[j] * r.states[j].transpose()),
                                      Matrix(ref.states[j] * ref.states[j].transpose()));
      INFO("t = " << times[j] << ": error " << e);
      CHECK(e < 100 * 1e-8);
    }
  }
}

TEST_CASE("auto: an explicit time variable wins; max_step keeps flow time; other steppers stay in flow time",
          "[log_time][auto]") {
  CubicCollapse cubic;
  LinearDecay linear;
  const Matrix x0 = Matrix::Constant(1, 1, 1e2);
  const std::vector<double> times = {0.0, 1.0};
  // Log time asked for where auto would not choose it.
  const Run asked = run(linear, x0, times, automatic(TimeVariable::log));
  REQUIRE(asked.summary.ok());
  CHECK(in_log_time(asked.summary));
  CHECK_THAT(asked.summary.stepper_choice, Catch::Contains("log time (given)"));
  // max_step bounds flow-time steps: flow time, said so.
  IntegrateOptions bounded = automatic();
  bounded.max_step = 0.05;
  const Run b = run(cubic, x0, times, bounded);
  REQUIRE(b.summary.ok());
  CHECK_FALSE(in_log_time(b.summary));
  CHECK_THAT(b.summary.stepper_choice, Catch::Contains("max_step"));
  CHECK(relative_error(b.states.back(), CubicCollapse::exact(x0, 1.0)) < 100 * 1e-8);
  // The default (automatic) is flow time for every other stepper: bdf's
  // summary has no choice at all, and its right-hand sides are its own.
  IntegrateOptions o = options(StepperKind::bdf, TimeVariable::flow);
  o.time = TimeVariable::automatic;
  const Run d = run(cubic, x0, times, o);
  const Run f = run(cubic, x0, times, options(StepperKind::bdf, TimeVariable::flow));
  REQUIRE(d.summary.ok());
  CHECK(d.summary.stepper_choice.empty());
  CHECK(d.summary.last.steps == f.summary.last.steps);
  CHECK(d.summary.last.rhs == f.summary.last.rhs);
  CHECK(to_string(TimeVariable::automatic) == "auto");
}
