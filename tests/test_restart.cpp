// Algorithm 1 of paper 000: the restart rule against a direct transcription
// of step 2 on scripted training-error sequences, and the GD loop against
// the euler stepper with h = 8 eta.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "flowsense/algorithm/restart.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"

using namespace flowsense;

namespace {
// Step 2(a) read off the paper: at k with mod(k, W) = 1, the max over
// k - W + 1 <= k' <= k (and k' >= 1, since e_{-1} does not exist).
std::optional<double> ratio_by_definition(const std::vector<double>& e, std::uint64_t k, std::uint64_t W) {
  if (k % W != 1) return std::nullopt;
  std::optional<double> best;
  const std::uint64_t lo = k + 1 >= W ? std::max<std::uint64_t>(1, k + 1 - W) : 1;
  for (std::uint64_t kp = lo; kp <= k; ++kp) {
    const double r = e[kp] / e[kp - 1];
    best = best ? std::max(*best, r) : r;
  }
  return best;
}
}  // namespace

TEST_CASE("restart rule matches step 2 of Algorithm 1 on a hand-made sequence", "[restart]") {
  // W = 4, tau = 0.9; checkpoints k = 1, 5, 9.
  const std::vector<double> e = {1, 0.5, 0.45, 0.44, 0.43, 0.42, 0.2, 0.19, 0.1, 0.099};
  RestartRule rule(4, 0.9);
  std::vector<std::uint64_t> fired;
  for (std::uint64_t k = 0; k < e.size(); ++k)
    if (auto r = rule.observe(k, e[k]); r && rule.fires(*r)) fired.push_back(k);
  // k = 1: ratio e1/e0 = 0.5 fires; k = 5: max(0.9, .978, .977, .977) does not;
  // k = 9: max(.476, .95, .526, .99) does not.
  CHECK(fired == std::vector<std::uint64_t>{1});
}

TEST_CASE("restart rule equals the definition on random sequences", "[restart]") {
  Rng rng(7);
  for (std::uint64_t W : {2u, 3u, 10u}) {
    std::vector<double> e(200);
    e[0] = 1.0;
    for (std::size_t k = 1; k < e.size(); ++k) e[k] = e[k - 1] * (0.8 + 0.25 * rng.uniform());
    RestartRule rule(W, 0.95);
    for (std::uint64_t k = 0; k < e.size(); ++k) {
      const auto got = rule.observe(k, e[k]);
      const auto want = ratio_by_definition(e, k, W);
      INFO("W = " << W << ", k = " << k);
      REQUIRE(got.has_value() == want.has_value());
      if (got) CHECK(*got == *want);
    }
  }
}

TEST_CASE("segment-window variant ignores ratios across a restart", "[restart]") {
  // After a restart at k = 1 the literal rule still sees e_2/e_1 at k = 5.
  const std::vector<double> e = {1, 0.5, 10, 9, 8.5, 8.4};
  RestartRule literal(4, 1.0), segment(4, 1.0, true);
  for (std::uint64_t k = 0; k <= 1; ++k) {
    literal.observe(k, e[k]);
    segment.observe(k, e[k]);
  }
  literal.restarted_after(1);
  segment.restarted_after(1);
  std::optional<double> a, b;
  for (std::uint64_t k = 2; k <= 5; ++k) {
    a = literal.observe(k, e[k]);
    b = segment.observe(k, e[k]);
  }
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == 10 / 0.5);  // includes the jump e_2/e_1 to the fresh start
  CHECK(*b == 8.4 / 8.5);  // max of 9/10, 8.5/9, 8.4/8.5 within the new run
  CHECK_THROWS_AS(RestartRule(1, 0.9), std::invalid_argument);
}

TEST_CASE("Algorithm 1 without restarts is the paper's GD, and restarts follow the schedule",
          "[restart]") {
  const Index d = 8;
  auto op = std::make_shared<GaussianOperator>(d, 4 * 2 * d, GaussianScale::unit, 11);
  const Problem problem = Problem::noiseless(op, planted_trace_one(d, 2, 12));
  RestartOptions o;
  o.learning_rate = 1e-4;
  o.iterations = 400;
  o.window = 20;
  o.tau = 0.999;
  o.initial_rank = 8;
  o.initial_norm = 1.0;
  o.rank_step = 3;
  o.min_rank = 2;
  o.seed = 5;
  o.restarts = false;
  o.record_at = {0, 1, 2, 50, 200, 401};
  const auto plain = run_restart_algorithm(problem, o);
  REQUIRE(plain.restarts.empty());

  // The same GD as the euler stepper with h = 8 eta from the same start.
  SensingLoss loss(problem, loss_constant::paper000);
  FactorFlow flow(loss);
  Matrix U = random_factor(d, d, 8, 1.0, Rng::derive_seed(5, 0));
  std::vector<double> errors;
  IntegrateOptions io;
  io.stepper = StepperKind::euler;
  io.step = 8e-4;
  std::vector<double> times;
  for (double k : {0.0, 1.0, 2.0, 50.0, 200.0, 401.0}) times.push_back(k * io.step);
  integrate(flow, U, times, io, {[&](const Matrix& s, const StepInfo&) { errors.push_back(loss.training_error(s)); }});
  const auto got = plain.trajectory.column("training_error");
  REQUIRE(got.size() == errors.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK_THAT(got[i], Catch::Matchers::WithinRel(errors[i], 1e-12));

  o.restarts = true;
  const auto restarted = run_restart_algorithm(problem, o);
  Index rank = o.initial_rank;
  double norm = o.initial_norm;
  for (const auto& ev : restarted.restarts) {
    CHECK(ev.iteration % o.window == 1);
    CHECK(ev.ratio < o.tau);
    rank = std::max(rank - o.rank_step, o.min_rank);
    norm *= o.factor;
    CHECK(ev.new_rank == rank);
    CHECK(ev.new_norm == norm);
  }
}

TEST_CASE("the stop-at-r variant never restarts once the rank has reached r", "[restart]") {
  const Index d = 10;
  auto op = std::make_shared<GaussianOperator>(d, 4 * 2 * d, GaussianScale::unit, 21);
  const Problem problem = Problem::noiseless(op, planted_trace_one(d, 2, 22));
  RestartOptions o;
  o.learning_rate = 5e-5;
  o.iterations = 3000;
  o.window = 20;
  o.tau = 0.9999;  // fires on any steady decrease, so the schedule reaches r quickly
  o.initial_rank = 8;
  o.initial_norm = 2.0;
  o.rank_step = 3;
  o.min_rank = 2;
  o.seed = 3;
  const auto literal = run_restart_algorithm(problem, o);
  o.stop_at_min_rank = true;
  const auto variant = run_restart_algorithm(problem, o);
  // 8 -> 5 -> 2: the variant stops after the restart that reached r = 2.
  REQUIRE(variant.restarts.size() == 2);
  CHECK(variant.restarts.back().new_rank == 2);
  // The literal rule's first restarts are the same events.
  REQUIRE(literal.restarts.size() >= 2);
  for (std::size_t i = 0; i < 2; ++i) CHECK(literal.restarts[i].iteration == variant.restarts[i].iteration);
}
