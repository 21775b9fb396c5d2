// The batched factor flow (flow/batch_flow.hpp, integrate/integrate_batch.hpp)
// against K separate factor flows: right-hand sides, Jacobian-vector
// products, fixed-step trajectories (same steps: equal to rounding, 1e-12) and
// adaptive ones (shared step control: equal to the tolerance).
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "flowsense/flow/batch_flow.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/integrate_batch.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/problem/rank_one_operator.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::relative_error;
using oracle::Sci;

namespace {

OperatorFormOptions form(OperatorForm f) {
  OperatorFormOptions o;
  o.form = f;
  return o;
}

Problem example_1_1(std::uint64_t seed) {
  return Problem::noiseless(std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, seed),
                            planted_trace_one(30, 2, seed + 1));
}

std::vector<Matrix> starts(Index d, Index K, double norm) {
  std::vector<Matrix> U;
  for (Index k = 0; k < K; ++k) U.push_back(random_factor(d, d, 2, norm, 100 + static_cast<std::uint64_t>(k)));
  return U;
}

}  // namespace

TEST_CASE("batch flow: right-hand side and Jacobian-vector products equal K separate flows",
          "[batch][oracle]") {
  struct Case {
    const char* name;
    Problem problem;
    double c;
  };
  const std::vector<Case> cases = {
      {"Example 1.1, gaussian d = 30, m = 240", example_1_1(3), 0.25},
      {"paper 003 size, gaussian d = 50, m = 5000",
       Problem::noiseless(std::make_shared<GaussianOperator>(50, 5000, GaussianScale::inv_sqrt_m, 4),
                          planted_trace_one(50, 5, 5)),
       0.5},
      {"rank-one projections d = 12, m = 100 (member-by-member fallback)",
       Problem::noiseless(std::make_shared<RankOneOperator>(12, 100, GaussianScale::unit, 6),
                          planted_trace_one(12, 2, 7)),
       0.25},
  };
  for (const Case& cs : cases) {
    for (const OperatorForm f : {OperatorForm::plain, OperatorForm::normal}) {
      if (f == OperatorForm::normal && cs.problem.op->name() == "rank_one") continue;
      INFO(cs.name << ", form " << to_string(f));
      const Index d = cs.problem.op->dim(), K = 4;
      const SensingLoss loss(cs.problem, cs.c, form(f));
      const BatchFactorFlow batch(loss, K);
      const FactorFlow single(loss);
      const std::vector<Matrix> U = starts(d, K, 1.0);
      std::vector<Matrix> V;
      for (Index k = 0; k < K; ++k) V.push_back(random_factor(d, d, d, 1.0, 200 + static_cast<std::uint64_t>(k)));
      Matrix dU, JV;
      batch(stack_members(U), dU, 0.0);
      batch.linearize(stack_members(U))(stack_members(V), JV);
      const std::vector<Matrix> dUk = split_members(dU, K), JVk = split_members(JV, K);
      for (Index k = 0; k < K; ++k) {
        Matrix ref, jref;
        single(U[k], ref, 0.0);
        single.linearize(U[k])(V[k], jref);
        CHECK(Sci{relative_error(dUk[k], ref)} < 1e-12);
        CHECK(Sci{relative_error(JVk[k], jref)} < 1e-12);
      }
      CHECK(batch.evaluations() == 1);
    }
  }
}

TEST_CASE("batch flow: right-hand side and Jacobian-vector products are bitwise the same on 1, 2 and 3 threads",
          "[batch][threads]") {
  // d = 40, m = 700: the plain form's product has three row tasks and four
  // column tasks (core/gram_product.hpp); the normal form's, seven blocks.
  const Problem pb = Problem::noiseless(std::make_shared<GaussianOperator>(40, 700, GaussianScale::unit, 8),
                                        planted_trace_one(40, 2, 9));
  const Index K = 6;
  const Matrix U = stack_members(starts(40, K, 1.0));
  std::vector<Matrix> V;
  for (Index k = 0; k < K; ++k) V.push_back(random_factor(40, 40, 40, 1.0, 300 + static_cast<std::uint64_t>(k)));
  const Matrix Vs = stack_members(V);
  for (const OperatorForm f : {OperatorForm::plain, OperatorForm::normal}) {
    INFO("form " << to_string(f));
    Matrix dU1, JV1;
    {
      const BatchFactorFlow batch(SensingLoss(pb, 0.25, form(f)), K);
      batch(U, dU1, 0.0);
      batch.linearize(U)(Vs, JV1);
    }
    for (const int threads : {2, 3}) {
      INFO("threads = " << threads);
      OperatorFormOptions o = form(f);
      o.threads = threads;
      const BatchFactorFlow batch(SensingLoss(pb, 0.25, o), K);
      Matrix dU, JV;
      for (int call = 0; call < 3; ++call) {
        batch(U, dU, 0.0);
        batch.linearize(U)(Vs, JV);
        REQUIRE((dU - dU1).norm() == 0.0);
        REQUIRE((JV - JV1).norm() == 0.0);
      }
    }
  }
}

TEST_CASE("integrate_batch: fixed steps give each member its separate trajectory", "[batch][oracle]") {
  const Problem pb = example_1_1(11);
  for (const OperatorForm f : {OperatorForm::plain, OperatorForm::normal}) {
    INFO("form " << to_string(f));
    const SensingLoss loss(pb, 0.25, form(f));
    const Index K = 5;
    std::vector<Matrix> U = starts(30, K, 1.0);
    const std::vector<Matrix> U0 = U;
    IntegrateOptions opt;
    opt.stepper = StepperKind::rk4;
    opt.step = 1e-3;
    const std::vector<double> times = linear_times(0.0, 0.6, 4);
    BatchFactorFlow batch(loss, K);
    REQUIRE(integrate_batch(batch, U, times, opt).ok());
    for (Index k = 0; k < K; ++k) {
      Matrix Uk = U0[k];
      FactorFlow single(loss);
      REQUIRE(integrate(single, Uk, times, opt, Watch{}).ok());
      CHECK(Sci{relative_error(U[k], Uk)} < 1e-12);
    }
  }
}

TEST_CASE("integrate_batch: adaptive members agree with separate runs to the tolerance; the batch takes the "
          "hardest member's steps",
          "[batch][oracle]") {
  // Starts of very different norms make the members' step needs differ.
  const Problem pb = example_1_1(21);
  const SensingLoss loss(pb, 0.25);
  std::vector<Matrix> U = {random_factor(30, 30, 2, 1e-2, 1), random_factor(30, 30, 2, 1.0, 2),
                           random_factor(30, 30, 30, 3.0, 3)};
  const std::vector<Matrix> U0 = U;
  IntegrateOptions opt;
  opt.rtol = 1e-10;
  opt.atol = 1e-14;
  const std::vector<double> times = linear_times(0.0, 0.6, 4);
  BatchFactorFlow batch(loss, 3);
  const Summary sb = integrate_batch(batch, U, times, opt);
  REQUIRE(sb.ok());
  std::uint64_t most_steps = 0;
  for (std::size_t k = 0; k < U.size(); ++k) {
    Matrix Uk = U0[k];
    FactorFlow single(loss);
    const Summary s = integrate(single, Uk, times, opt, Watch{});
    REQUIRE(s.ok());
    most_steps = std::max(most_steps, s.last.steps);
    // Both runs are within ~rtol-scaled global error of the exact flow; the
    // flow over t = 0.6 is contractive here, so 1e-7 leaves 3 decades of room.
    INFO("member " << k << ": " << s.last.steps << " separate steps");
    CHECK(Sci{relative_error(U[k], Uk)} < 1e-7);
  }
  INFO("batch steps " << sb.last.steps << ", hardest member " << most_steps);
  // The shared step is no larger than any member's need; a step sequence
  // taken for the whole batch is at least as long as the hardest member's
  // (up to a few steps where the controllers' histories differ).
  CHECK(sb.last.steps + 3 >= most_steps);
}

TEST_CASE("integrate_batch: bad input names the member", "[batch]") {
  const Problem pb = example_1_1(31);
  const SensingLoss loss(pb, 0.25);
  BatchFactorFlow batch(loss, 2);
  std::vector<Matrix> one = {Matrix::Ones(30, 30)};
  CHECK_THROWS_WITH(integrate_batch(batch, one, {0.0, 1.0}, IntegrateOptions{}),
                    Catch::Contains("expected 2 states") && Catch::Contains("got 1"));
  std::vector<Matrix> mixed = {Matrix::Ones(30, 30), Matrix::Ones(30, 2)};
  CHECK_THROWS_WITH(integrate_batch(batch, mixed, {0.0, 1.0}, IntegrateOptions{}),
                    Catch::Contains("member 1") && Catch::Contains("30 x 2"));
  CHECK_THROWS_WITH(BatchFactorFlow(loss, 0), Catch::Contains("members >= 1"));
}
