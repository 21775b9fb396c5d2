// The X flow (000 (30)), X' = -2c (A*(r) X + X A*(r)), against U U^T of the
// factor flow from X(0) = U0 U0^T, against the closed form of full
// observation (DESIGN.md: X(t) = Y K^{-1} Y^T, Y = e^{Zt} U0,
// K = I + 2 U0^T (int_0^t e^{2Zs} ds) U0, for c = 1/2), and the GramGapMetric
// that compares a run with recorded reference Gram matrices.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/observe/theory_metrics.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/trajectory/recorder.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;

namespace {

/// Closed form of X' = ZX + XZ - 2X^2 (full observation, c = 1/2).
Matrix closed_form(const Matrix& Z, const Matrix& U0, double t) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(Z);
  const Matrix& V = eig.eigenvectors();
  const Vector& lam = eig.eigenvalues();
  const Index d = Z.rows();
  Vector ex(d), integral(d);
  for (Index i = 0; i < d; ++i) {
    ex[i] = std::exp(lam[i] * t);
    // int_0^t e^{2 lam s} ds = expm1(2 lam t) / (2 lam), = t at lam = 0.
    integral[i] = std::abs(lam[i]) > 1e-300 ? std::expm1(2 * lam[i] * t) / (2 * lam[i]) : t;
  }
  const Matrix Y = V * ex.asDiagonal() * V.transpose() * U0;
  const Matrix K = Matrix::Identity(U0.cols(), U0.cols()) +
                   2.0 * U0.transpose() * V * integral.asDiagonal() * V.transpose() * U0;
  return Y * K.ldlt().solve(Y.transpose());
}

IntegrateOptions tight() {
  IntegrateOptions opt;
  opt.stepper = StepperKind::dopri5;
  opt.rtol = 1e-11;
  opt.atol = 1e-14;
  opt.step = 1e-4;
  return opt;
}

}  // namespace

TEST_CASE("X flow matches the full-observation closed form", "[theory][gram_flow]") {
  const Index d = 6;
  auto op = std::make_shared<FullObservation>(d);
  const Matrix Z = planted_orthogonal(d, {2.0, 1.0, 0.5}, 5);
  SensingLoss loss(Problem::noiseless(op, Z), loss_constant::paper003);
  const Matrix U0 = random_factor(d, 4, 4, 0.3, 6);
  GramFlow flow(loss);
  Matrix X = U0 * U0.transpose();
  // The closed form itself loses accuracy like eps * cond(K) ~ eps * e^{4 lambda_1 t}:
  // stop at t = 3 (cond ~ 1e10) so that it stays an oracle at 1e-8.
  const std::vector<double> times = {0.0, 0.3, 1.0, 2.0, 3.0};
  std::vector<Matrix> seen;
  auto summary = integrate(flow, X, times, tight(), {[&](const Matrix& s, const StepInfo&) { seen.push_back(s); }});
  REQUIRE(summary.ok());
  REQUIRE(seen.size() == times.size());
  for (std::size_t k = 0; k < times.size(); ++k) {
    const Matrix oracle = closed_form(Z, U0, times[k]);
    INFO("t = " << times[k]);
    CHECK((seen[k] - oracle).norm() <= 1e-8 * oracle.norm());
  }
  // The comparison is not trivial: X moved most of the way to the truth.
  CHECK((seen.back() - Z).norm() < 0.2 * (seen.front() - Z).norm());
}

TEST_CASE("X flow equals U U^T of the factor flow (Gaussian sensing)", "[theory][gram_flow]") {
  const Index d = 10, p = 5;
  auto op = std::make_shared<GaussianOperator>(d, 70, GaussianScale::unit, 23);
  auto problem = Problem::noiseless(op, planted_trace_one(d, 2, 24));
  SensingLoss loss(problem, loss_constant::paper000);
  const Matrix U0 = random_factor(d, p, 3, 0.7, 25);
  const std::vector<double> times = {0.0, 0.1, 0.4, 1.0, 2.0};

  // Reference: the X flow, recording Gram snapshots.
  GramFlow gflow(loss);
  Matrix X = U0 * U0.transpose();
  Recorder gram_rec(loss, StateKind::gram, standard_metrics(&problem.planted), 0.0, SnapshotKind::gram);
  auto gs = integrate(gflow, X, times, tight(), {gram_rec.observer()});
  gram_rec.finish(gs);
  REQUIRE(gs.ok());
  std::vector<double> ref_t;
  std::vector<Matrix> ref_X;
  for (const auto& snap : gram_rec.trajectory().snapshots) {
    ref_t.push_back(snap.t);
    ref_X.push_back(snap.value);
  }
  REQUIRE(ref_t.size() == times.size());

  // The factor flow watched by the gap metric.
  FactorFlow fflow(loss);
  Matrix U = U0;
  std::vector<std::shared_ptr<Metric>> metrics = {std::make_shared<TimeMetric>(),
                                                  std::make_shared<GramGapMetric>(ref_t, ref_X),
                                                  std::make_shared<TrainingErrorMetric>()};
  Recorder rec(loss, StateKind::factor, metrics);
  auto fs = integrate(fflow, U, times, tight(), {rec.observer()});
  rec.finish(fs);
  REQUIRE(fs.ok());
  const auto gap = rec.trajectory().column("gram_gap");
  const auto tr = rec.trajectory().column("training_error");
  const auto gtr = gram_rec.trajectory().column("training_error");
  for (std::size_t k = 0; k < gap.size(); ++k) {
    INFO("t = " << times[k] << ", gap " << gap[k]);
    CHECK(gap[k] <= 1e-8 * ref_X[k].norm());
    CHECK_THAT(tr[k], WithinAbs(gtr[k], 1e-7 * gtr[0]));
  }
  CHECK(tr.back() < 0.5 * tr.front());  // the flows moved

  // A time without a reference gives NaN, not a made-up number.
  Matrix U1 = U0;
  Recorder odd(loss, StateKind::factor, {std::make_shared<GramGapMetric>(ref_t, ref_X)});
  integrate(fflow, U1, {0.0, 0.25}, tight(), {odd.observer()});
  const auto g2 = odd.trajectory().column("gram_gap");
  CHECK(g2[0] < 1e-14);
  CHECK(std::isnan(g2[1]));
  CHECK_THROWS_AS(GramGapMetric({0.0, 0.0}, {X, X}), std::invalid_argument);
}
