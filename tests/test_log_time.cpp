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
