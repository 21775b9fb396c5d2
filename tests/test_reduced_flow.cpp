// The exact reduced flow: a rank-r0 start U0 = L0 R^T integrated as
// L' = -grad G_c(L) must agree with the full factor flow, U(t) = L(t) R^T
// (DESIGN.md; 000 Lemma C.1), to integration accuracy for adaptive steppers
// and to rounding for a fixed-step stepper on the same grid.
#include <catch2/catch.hpp>

#include <memory>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/flow/reduced_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

struct Snapshots {
  std::vector<double> t;
  std::vector<Matrix> U;
};

Snapshots run(FactorFlow& flow, Matrix state, const std::vector<double>& times, const IntegrateOptions& opt,
              const Matrix* R = nullptr) {
  Snapshots s;
  auto record = [&s](const Matrix& U, const StepInfo& info) {
    s.t.push_back(info.t);
    s.U.push_back(U);
  };
  Summary summary;
  if (R) summary = integrate(flow, state, times, opt, {expanding_observer(record, *R)});
  else summary = integrate(flow, state, times, opt, {record});
  REQUIRE(summary.ok());
  return s;
}

}  // namespace

TEST_CASE("reduce_initial_factor splits U0 = L0 R^T with orthonormal R", "[theory][reduced_flow]") {
  const Matrix U0 = random_factor(9, 6, 2, 1.5, 3);
  const ReducedFactor red = reduce_initial_factor(U0);
  CHECK(red.rank == 2);
  CHECK(red.reduces());
  CHECK(red.L.rows() == 9);
  CHECK(red.L.cols() == 2);
  CHECK((red.R.transpose() * red.R - Matrix::Identity(2, 2)).norm() < 1e-14);
  CHECK((expand_factor(red.L, red.R) - U0).norm() < 1e-14 * U0.norm());
  CHECK(red.discarded < 1e-14 * U0.norm());
  CHECK((red.L * red.L.transpose() - U0 * U0.transpose()).norm() < 1e-14 * U0.squaredNorm());

  // A rank tolerance discards tiny singular values and reports how much.
  Rng rng(4);
  const Matrix noisy = U0 + 1e-9 * rng.normal_matrix(9, 6);
  const ReducedFactor kept = reduce_initial_factor(noisy, 0.0);
  CHECK(kept.rank == 6);
  CHECK_FALSE(kept.reduces());
  const ReducedFactor cut = reduce_initial_factor(noisy, 1e-6);
  CHECK(cut.rank == 2);
  double tail = 0.0;
  for (Index i = 2; i < 6; ++i) tail += cut.singular_values[i] * cut.singular_values[i];
  CHECK_THAT(cut.discarded, WithinRel(std::sqrt(tail), 1e-12));
  CHECK_THAT((expand_factor(cut.L, cut.R) - noisy).norm(), WithinRel(cut.discarded, 1e-6));

  // A zero start keeps a one-column zero state.
  const ReducedFactor zero = reduce_initial_factor(Matrix::Zero(4, 3));
  CHECK(zero.rank == 1);
  CHECK(zero.L.norm() == 0.0);
  CHECK_THROWS_AS(reduce_initial_factor(U0, 1.0), std::invalid_argument);
  CHECK_THROWS_AS(expand_factor(red.L, Matrix::Identity(6, 3)), std::invalid_argument);
}

TEST_CASE("the reduced flow agrees with the full factor flow (dopri5 to tolerance, RK4 to rounding)",
          "[theory][reduced_flow]") {
  const Index d = 12, p = 8, r0 = 2, m = 90;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 17);
  auto problem = Problem::noiseless(op, planted_trace_one(d, 3, 18));
  SensingLoss loss(problem, loss_constant::paper000);
  const Matrix U0 = random_factor(d, p, r0, 0.8, 19);
  const ReducedFactor red = reduce_initial_factor(U0);
  REQUIRE(red.rank == r0);
  const std::vector<double> times = {0.0, 0.05, 0.2, 0.5, 1.0};

  SECTION("dopri5 at rtol 1e-11") {
    IntegrateOptions opt;
    opt.stepper = StepperKind::dopri5;
    opt.rtol = 1e-11;
    opt.atol = 1e-14;
    opt.step = 1e-4;
    FactorFlow full(loss), reduced(loss);
    const Snapshots a = run(full, U0, times, opt);
    const Snapshots b = run(reduced, red.L, times, opt, &red.R);
    REQUIRE(a.U.size() == times.size());
    REQUIRE(b.U.size() == times.size());
    for (std::size_t k = 0; k < times.size(); ++k) {
      INFO("t = " << times[k]);
      CHECK(b.t[k] == a.t[k]);
      CHECK((a.U[k] - b.U[k]).norm() <= 1e-8 * a.U[k].norm());
      // Lemma C.1 along the full flow: rank stays r0.
      const Vector sv = Eigen::JacobiSVD<Matrix>(a.U[k]).singularValues();
      CHECK(sv[r0] <= 1e-10 * sv[0]);
    }
    // The flow moved (the comparison is not trivial) and the reduced state is cheaper.
    CHECK((a.U.back() - U0).norm() > 0.05 * U0.norm());
    CHECK(reduced.evaluations() > 0);
  }
  SECTION("RK4 on the same grid") {
    IntegrateOptions opt;
    opt.stepper = StepperKind::rk4;
    opt.step = 1e-3;
    FactorFlow full(loss), reduced(loss);
    const Snapshots a = run(full, U0, times, opt);
    const Snapshots b = run(reduced, red.L, times, opt, &red.R);
    for (std::size_t k = 0; k < times.size(); ++k) {
      INFO("t = " << times[k]);
      CHECK((a.U[k] - b.U[k]).norm() <= 1e-12 * a.U[k].norm());
    }
  }
}
