// Best rank-s solutions Z*_s (003 Def. 1.1) with their certificate.
// Oracles: full observation (Z*_s = the truncated eigendecomposition of the
// truth, Eckart-Young), exact recovery at s = rank(X♮) for noiseless data,
// independence of the loss constant c, and the horizontal Hessian's dense
// and Lanczos paths against each other.
#include <catch2/catch.hpp>

#include <memory>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("full observation: Z*_s is the truncated eigendecomposition of Z*, certified",
          "[theory][analysis][best_rank]") {
  const Index d = 8;
  auto op = std::make_shared<FullObservation>(d);
  const Matrix truth = planted_orthogonal(d, {5.0, 3.0, 2.0, 1.0}, 12);
  auto problem = Problem::noiseless(op, truth);
  SensingLoss loss(problem, loss_constant::paper003);
  const auto sols = best_rank_solutions(loss, 4);
  REQUIRE(sols.size() == 4);
  for (const auto& sol : sols) {
    INFO(sol.message);
    const Matrix oracle = truncated_psd(truth, sol.s);
    CHECK((sol.Z - oracle).norm() < 1e-9 * truth.norm());
    CHECK(sol.certified);
    CHECK(sol.relative_gradient < 1e-10);
    CHECK(sol.hessian.min > 0);
    CHECK(sol.hessian.dimension == d * sol.s - sol.s * (sol.s - 1) / 2);
    CHECK(sol.value_spread >= 0);
    CHECK(sol.factor.cols() == sol.s);
    // The objective is (c/2)||Z - Z*||^2 = (1/4) * (sum of the dropped eigenvalues^2).
    double dropped = 0.0;
    const double eig[] = {5.0, 3.0, 2.0, 1.0};
    for (int j = sol.s; j < 4; ++j) dropped += eig[j] * eig[j];
    CHECK_THAT(sol.value, WithinAbs(0.25 * dropped, 1e-10));
  }
  // s beyond the rank: Z*_5 = Z*, but the factor has a flat direction.
  const BestRankSolution five = best_rank_solution(loss, 5, {}, &sols.back().factor);
  INFO(five.message);
  CHECK((five.Z - truth).norm() < 1e-7 * truth.norm());
  CHECK(five.degenerate);
  CHECK_FALSE(five.certified);
}

TEST_CASE("Gaussian sensing: certified Z*_s, exact at s = rank, independent of c",
          "[theory][analysis][best_rank]") {
  const Index d = 10, m = 160;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 31);
  const Matrix truth = planted_orthogonal(d, {4.0, 2.0, 1.0}, 32);
  auto problem = Problem::noiseless(op, truth);
  SensingLoss loss(problem, loss_constant::paper003);
  BestRankOptions opt;
  opt.seed = 5;
  const auto sols = best_rank_solutions(loss, 3, opt);
  for (const auto& sol : sols) {
    INFO(sol.message);
    CHECK(sol.certified);
    CHECK(sol.agreeing_starts >= 2);
    CHECK(sol.hessian.min > 0);
  }
  // Noiseless, s = rank(X♮) and A injective on low rank: Z*_3 = X♮, zero loss.
  CHECK((sols[2].Z - truth).norm() < 1e-8 * truth.norm());
  CHECK(sols[2].training_error < 1e-18 * problem.b.squaredNorm());
  // Lower ranks fit worse (the values decrease in s) and differ from X_s X_s^T
  // only by O(delta) (003 Lemma 5.1): here just check they are close-ish.
  CHECK(sols[0].value > sols[1].value);
  CHECK(sols[1].value > sols[2].value);
  CHECK((sols[0].Z - truncated_psd(truth, 1)).norm() < 0.5 * truth.norm());

  // The minimizer does not depend on the loss constant.
  SensingLoss quarter(problem, loss_constant::paper000);
  const BestRankSolution z2 = best_rank_solution(quarter, 2, opt, &sols[0].factor);
  CHECK((z2.Z - sols[1].Z).norm() < 1e-8 * sols[1].Z.norm());
}

TEST_CASE("horizontal Hessian: dense and Lanczos agree; vertical directions are excluded",
          "[theory][analysis][best_rank]") {
  const Index d = 9, m = 90;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 41);
  auto problem = Problem::noiseless(op, planted_orthogonal(d, {3.0, 1.5, 0.7}, 42));
  SensingLoss loss(problem, loss_constant::paper003);
  const BestRankSolution sol = best_rank_solution(loss, 3);
  REQUIRE(sol.certified);
  EigenOptions dense, lanczos;
  dense.method = EigenMethod::dense;
  lanczos.method = EigenMethod::lanczos;
  lanczos.tol = 1e-11;
  const HorizontalHessian a = horizontal_hessian(loss, sol.factor, dense);
  const HorizontalHessian b = horizontal_hessian(loss, sol.factor, lanczos);
  REQUIRE(a.converged);
  REQUIRE(b.converged);
  CHECK(a.dimension == 27 - 3);
  CHECK_THAT(b.min, WithinRel(a.min, 1e-6));
  CHECK_THAT(b.max, WithinRel(a.max, 1e-8));
  // The full Hessian has (numerically) zero curvature along U Omega.
  Matrix Om = Matrix::Zero(3, 3);
  Om(0, 1) = 1;
  Om(1, 0) = -1;
  const Matrix V = sol.factor * Om;
  Matrix HV;
  loss.hessian_vector(sol.factor, V, HV);
  CHECK((V.array() * HV.array()).sum() < 1e-8 * a.max * V.squaredNorm());
  CHECK(a.min > 1e-4 * a.max);
}

TEST_CASE("truncated_psd and best_rank argument checks", "[theory][analysis][best_rank]") {
  Matrix Z = Matrix::Zero(3, 3);
  Z.diagonal() << 3.0, -1.0, 2.0;
  Matrix expect = Matrix::Zero(3, 3);
  expect(0, 0) = 3.0;
  expect(2, 2) = 2.0;
  CHECK((truncated_psd(Z, 2) - expect).norm() < 1e-14);
  CHECK((truncated_psd(Z, 3) - expect).norm() < 1e-14);  // the negative part is clipped
  auto op = std::make_shared<FullObservation>(3);
  SensingLoss loss(Problem::noiseless(op, expect), 0.5);
  CHECK_THROWS_AS(best_rank_solution(loss, 0), std::invalid_argument);
  CHECK_THROWS_AS(best_rank_solution(loss, 4), std::invalid_argument);
  BestRankOptions bad;
  bad.restarts = -1;
  CHECK_THROWS_WITH(best_rank_solution(loss, 1, bad), Catch::Contains("restarts"));
}
