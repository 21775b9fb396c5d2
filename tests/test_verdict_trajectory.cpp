// Tests of the trajectory verdicts (verdict/trajectory_checks.hpp) on cases with known answers.
#include <catch2/catch.hpp>

#include <cmath>

#include "flowsense/core/random.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/verdict/trajectory_checks.hpp"

using namespace flowsense;

namespace {

RunSetup gaussian_run(Index d, Index m, Index r_planted, Index p, Index r0, double norm, double t_end,
                      std::uint64_t seed) {
  RunSetup s;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, seed);
  s.problem = Problem::noiseless(op, planted_trace_one(d, r_planted, seed + 1));
  s.c = 0.25;
  s.U0 = random_factor(d, p, r0, norm, seed + 2);
  s.options.stepper = StepperKind::dopri5;
  s.options.rtol = 1e-9;
  s.options.atol = 1e-13;
  s.times = log_times(t_end * 1e-4, t_end, 60);
  return s;
}

}  // namespace

TEST_CASE("Lemma C.1 holds on a rank-2 start in an 8 x 8 factor", "[verdict][trajectory]") {
  const RunSetup run = gaussian_run(8, 40, 2, 8, 2, 1.0, 5.0, 21);
  const Verdict v = check_lemma_c1(run);
  INFO(v.summary);
  CHECK(v.status == VerdictStatus::holds);
  CHECK(v.quantity("rank_U0") == 2);
  CHECK(v.quantity("max_rank_along_run") == 2);
  // The rounding carried by U(t) = Phi(t) U0 stays far below the tolerance (the margin the
  // tolerance's reason relies on).
  CHECK(v.quantity("max_sigma_r0plus1_over_sigma_1") < 1e-11);
  CHECK(v.quantity("max_row_space_leak") < 1e-11);
  CHECK(v.quantity("training_error_end") < v.quantity("training_error_start"));
  CHECK(v.table("spectrum").rows.size() == run.times.size());
  CHECK(v.witnesses.empty());
}

TEST_CASE("Lemma C.1 flags a synthetic trajectory whose rank grows, with its witness time", "[verdict][trajectory]") {
  Trajectory tr;
  tr.columns = {"t", "sigma_1", "sigma_2", "sigma_3"};
  tr.rows = {{0.0, 1.0, 0.0, 0.0}, {1.0, 1.0, 1e-12, 0.0}, {2.0, 1.0, 1e-3, 0.0}, {3.0, 1.0, 1e-2, 1e-9}};
  Matrix U0 = Matrix::Zero(3, 3);
  U0(0, 0) = 1.0;
  Matrix U2 = U0;
  U2(1, 1) = 1e-3;
  tr.snapshots.push_back({2.0, U2});
  const Verdict v = lemma_c1_verdict(tr, U0, {});
  INFO(v.summary);
  CHECK(v.status == VerdictStatus::violated);
  CHECK(v.quantity("witness_time") == 2.0);  // 1e-12 at t = 1 is below the tolerance 1e-8
  CHECK(v.quantity("max_rank_along_run") == 2);
  REQUIRE(v.witnesses.size() == 2);
  CHECK(v.witnesses[1].value == U2);

  // The same trajectory at a coarser tolerance does not see the growth until 1e-2.
  LemmaC1Options coarse;
  coarse.rank_tol = 5e-3;
  CHECK(lemma_c1_verdict(tr, U0, coarse).quantity("witness_time") == 3.0);
  coarse.rank_tol = 2.0;
  CHECK_THROWS_AS(lemma_c1_verdict(tr, U0, coarse), std::invalid_argument);
}

TEST_CASE("Theorem 4.1 on full observation: T_s ordered, Z*_s approached, closer as alpha shrinks",
          "[verdict][trajectory]") {
  const Index d = 6;
  Theorem41Setup s;
  auto op = std::make_shared<FullObservation>(d);
  s.problem = Problem::noiseless(op, planted_orthogonal(d, {1.0, 0.5, 0.25}, 31));
  s.direction = Rng(32).normal_matrix(d, 4);
  s.alphas = {1e-2, 1e-6};
  s.options.stepper = StepperKind::dopri5;
  s.options.rtol = 1e-9;
  s.options.atol = 1e-14;
  s.t_end = 150.0;
  s.observations = 300;
  const Verdict v = check_theorem_4_1(s);
  INFO(v.summary);
  CHECK(v.status == VerdictStatus::holds);
  CHECK(v.quantity("ordered_at_every_alpha") == 1.0);
  CHECK(v.quantity("T_1") < v.quantity("T_2"));
  CHECK(v.quantity("T_2") < v.quantity("T_3"));
  // Full observation, Z*_s = X_s X_s^T exactly (Eckart-Young); with alpha = 1e-6 the flow passes
  // within a few percent of Z*_1 and Z*_2 and converges to Z*_3 = Z*.
  CHECK(v.quantity("min_gap_rel_1") < 0.05);
  CHECK(v.quantity("min_gap_rel_2") < 0.05);
  CHECK(v.quantity("min_gap_rel_3") < 1e-6);
  // The escape times scale like log(1/alpha)/lambda_s: T_s grows with s.
  CHECK(v.quantity("T_3") / v.quantity("T_1") > 2.0);
  const auto& trend = v.table("alpha_trend");
  for (const auto& row : trend.rows) CHECK(row[3] == 1.0);  // gap decreases as alpha decreases
  // Assumption 3.1 is met exactly (delta = 0).
  CHECK(v.hypotheses[0].status == HypothesisStatus::met);
}

TEST_CASE("Theorem 3.2 at Example 1.1-like sizes: Assumption 3.1(i)-(ii) fail, the run still recovers X",
          "[verdict][trajectory]") {
  RunSetup run = gaussian_run(8, 24, 1, 8, 1, 0.3, 50.0, 41);
  run.problem.xi = 1.5;
  Theorem32Options o;
  o.manifold_starts = 6;
  o.isometry.random_starts = 3;
  const Verdict v = check_theorem_3_2(run, o);
  INFO(v.summary);
  CHECK(v.status == VerdictStatus::inconclusive);
  // (i): m/d = 3 > rank(X) = 1. (ii): U♮ in M_b with range dimension d r = 8 < m = 24.
  CHECK(v.hypotheses[1].status == HypothesisStatus::not_met);
  CHECK(v.hypotheses[2].status == HypothesisStatus::not_met);
  CHECK(v.quantity("range_dim_Dg_at_planted_factor") == 8);
  CHECK(v.quantity("sigma_m_Dg_at_planted_factor") < 1e-8);
  CHECK(v.quantity("relative_test_error_end") < 1e-3);  // rank-1 start, RIP-like m: recovered
  CHECK(v.quantity("rank_end") == 1);

  RunSetup no_xi = run;
  no_xi.problem.xi.reset();
  CHECK_THROWS_AS(check_theorem_3_2(no_xi, o), std::invalid_argument);
}
