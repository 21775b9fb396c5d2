// Theory metrics along real runs. Oracles: the energy identity and the
// singular-value law (36) hold for the exact flow, so on a fine observation
// grid their residuals must be at the level of integration plus quadrature
// error (and shrink with the grid); the rate columns match finite differences
// of the observed columns; every metric agrees with the analysis function it
// wraps; factor and Gram (X flow) runs give the same columns.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/analysis/procrustes.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/observe/theory_metrics.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/trajectory/recorder.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

IntegrateOptions tight() {
  IntegrateOptions opt;
  opt.stepper = StepperKind::dopri5;
  opt.rtol = 1e-11;
  opt.atol = 1e-14;
  opt.step = 1e-4;
  return opt;
}

struct Fixture {
  Index d = 8, p = 8, m = 30;  // m < D = 36: LICQ can hold at full-rank U
  std::shared_ptr<GaussianOperator> op;
  Problem problem;
  Fixture() {
    op = std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 61);
    problem = Problem::noiseless(op, planted_orthogonal(d, {3.0, 1.5, 0.6}, 62));
  }
};

Trajectory record(const SensingLoss& loss, StateKind kind, Matrix state, const std::vector<double>& times,
                  std::vector<std::shared_ptr<Metric>> metrics) {
  Recorder rec(loss, kind, std::move(metrics));
  if (kind == StateKind::factor) {
    FactorFlow flow(loss);
    rec.finish(integrate(flow, state, times, tight(), {rec.observer()}));
  } else {
    GramFlow flow(loss);
    rec.finish(integrate(flow, state, times, tight(), {rec.observer()}));
  }
  return rec.take();
}

}  // namespace

TEST_CASE("energy identity: residuals at quadrature level, and q' matches finite differences of q",
          "[theory][metrics][energy]") {
  Fixture f;
  SensingLoss loss(f.problem, loss_constant::paper003);
  const Matrix U0 = random_factor(f.d, f.p, f.p, 0.5, 63);
  auto run_grid = [&](int n) {
    return record(loss, StateKind::factor, U0, linear_times(0.0, 2.0, n),
                  {std::make_shared<TimeMetric>(), std::make_shared<EnergyIdentityMetric>()});
  };
  const Trajectory fine = run_grid(201), coarse = run_grid(51);
  REQUIRE(fine.summary.ok());
  auto worst = [](const Trajectory& tr) {
    const auto res = tr.column("energy_residual"), drop = tr.column("energy_drop");
    CHECK(std::isnan(res[0]));
    double w = 0;
    for (std::size_t k = 1; k < res.size(); ++k) w = std::max(w, std::abs(res[k]) / std::max(drop[k], 1e-300));
    return w;
  };
  const double wf = worst(fine), wc = worst(coarse);
  INFO("relative energy residual: fine " << wf << ", coarse " << wc);
  CHECK(wf < 1e-6);
  // Hermite quadrature: error ~ h^5 per interval, relative to a drop ~ h: ~h^4; 4x finer grid -> >> 10x smaller.
  CHECK(wf < wc);

  // q' = dq/dt and dG/dt = -q against fourth-order central differences on
  // the fine grid (h = 0.01, error ~ h^4 |f^(5)| / 30).
  const auto t = fine.column("t"), q = fine.column("grad_norm_sq"), dq = fine.column("grad_norm_sq_rate");
  const auto G = fine.column("G");
  const double h = t[1] - t[0];
  auto d4 = [h](const std::vector<double>& y, std::size_t k) {
    return (-y[k + 2] + 8 * y[k + 1] - 8 * y[k - 1] + y[k - 2]) / (12 * h);
  };
  double dq_max = 0;
  for (double v : dq) dq_max = std::max(dq_max, std::abs(v));
  for (std::size_t k = 5; k + 5 < t.size(); k += 10) {
    INFO("t = " << t[k]);
    CHECK_THAT(dq[k], WithinAbs(d4(q, k), 1e-5 * dq_max));
    CHECK_THAT(d4(G, k), WithinAbs(-q[k], 1e-5 * q[0]));
  }
}

TEST_CASE("singular-value law (36): log-rate residuals small, zero eigenvalues stay unobservable",
          "[theory][metrics][svlaw]") {
  Fixture f;
  SensingLoss loss(f.problem, loss_constant::paper000);
  const Matrix U0 = random_factor(f.d, f.p, 3, 0.4, 64);  // rank 3 in width 8
  const Trajectory tr = record(loss, StateKind::factor, U0, linear_times(0.0, 1.0, 401),
                               {std::make_shared<TimeMetric>(), std::make_shared<SingularValueLawMetric>(4),
                                std::make_shared<GramSpectrumMetric>(f.d)});
  REQUIRE(tr.summary.ok());
  for (int i = 1; i <= 3; ++i) {
    const auto res = tr.column("sv_law_residual_" + std::to_string(i));
    const auto rate = tr.column("sv_rate_" + std::to_string(i));
    double worst = 0, scale = 0;
    for (std::size_t k = 1; k < res.size(); ++k) {
      REQUIRE(std::isfinite(res[k]));
      worst = std::max(worst, std::abs(res[k]));
      scale = std::max(scale, std::abs(rate[k]) * 0.0025);  // |rate| * h
    }
    INFO("i = " << i << ": worst residual " << worst << " vs per-step change " << scale);
    CHECK(worst < 1e-3 * scale);
  }
  // The 4th eigenvalue of X is zero (rank 3): NaN rate and residual, and x_eig_4.. stay ~0.
  const auto r4 = tr.column("sv_rate_4");
  CHECK(std::isnan(r4[10]));
  const auto e1 = tr.column("x_eig_1"), e4 = tr.column("x_eig_4"), e8 = tr.column("x_eig_8");
  for (std::size_t k = 0; k < e4.size(); k += 50) {
    CHECK(e4[k] <= 1e-20 * e1[k]);  // Lemma C.1: zero eigenvalues stay zero (to rounding)
    CHECK(e8[k] <= 1e-20 * e1[k]);
  }
}

TEST_CASE("theory metrics agree with the analysis functions and between factor and X-flow runs",
          "[theory][metrics]") {
  Fixture f;
  SensingLoss loss(f.problem, loss_constant::paper003);
  const double opn = operator_norm(*f.op).value;
  BestRankOptions bro;
  bro.restarts = 2;
  const auto sols = best_rank_solutions(loss, 2, bro);
  std::vector<Matrix> factors = {sols[0].factor, sols[1].factor};
  auto metrics = [&] {
    return std::vector<std::shared_ptr<Metric>>{
        std::make_shared<TimeMetric>(),
        std::make_shared<ManifoldDistanceMetric>(opn, 10.0, true, ProjectionOptions{}, f.p),
        std::make_shared<LicqMetric>(),
        std::make_shared<BestRankDistanceMetric>(factors),
        std::make_shared<RelativeErrorMetric>(f.problem.planted, 3),
        std::make_shared<GramSpectrumMetric>(f.d),
        std::make_shared<EnergyIdentityMetric>(),
        std::make_shared<SingularValueLawMetric>(3)};
  };
  const Matrix U0 = random_factor(f.d, f.p, f.p, 0.3, 65);
  const std::vector<double> times = {0.0, 0.5, 1.5, 4.0};
  const Trajectory a = record(loss, StateKind::factor, U0, times, metrics());
  const Trajectory b = record(loss, StateKind::gram, U0 * U0.transpose(), times, metrics());
  REQUIRE(a.summary.ok());
  REQUIRE(b.summary.ok());
  REQUIRE(a.columns == b.columns);

  // Column values at t = 0 against the analysis functions.
  const double lower0 = a.column("dist_Mb_lower")[0], upper0 = a.column("dist_Mb_upper")[0];
  const ManifoldDistanceBounds mb = manifold_distance_bounds(loss, U0, opn, 10.0);
  CHECK_THAT(lower0, WithinRel(mb.lower, 1e-12));
  CHECK_THAT(upper0, WithinRel(mb.upper, 1e-9));
  CHECK(lower0 <= upper0);
  CHECK_THAT(a.column("sigma_m_Dg")[0], WithinRel(licq_margin(*f.op, U0).sigma_m, 1e-9));
  CHECK_THAT(a.column("procrustes_s2")[0], WithinRel(procrustes_distance(U0, sols[1].factor), 1e-12));
  CHECK_THAT(a.column("zstar_gap_s1")[0], WithinRel((U0 * U0.transpose() - sols[0].Z).norm(), 1e-12));
  const Matrix X2 = truncated_psd(f.problem.planted, 2);
  CHECK_THAT(a.column("E_2")[0],
             WithinRel((U0 * U0.transpose() - X2).squaredNorm() / X2.squaredNorm(), 1e-12));
  const Vector ev = Eigen::SelfAdjointEigenSolver<Matrix>(U0 * U0.transpose()).eigenvalues().reverse();
  CHECK_THAT(a.column("x_eig_1")[0], WithinRel(ev[0], 1e-12));
  CHECK_THAT(a.column("x_eig_5")[0], WithinRel(ev[4], 1e-9));

  // Factor run and X-flow run: every column equal to integration accuracy.
  for (const auto& name : a.columns) {
    const auto ca = a.column(name), cb = b.column(name);
    for (std::size_t k = 0; k < ca.size(); ++k) {
      if (std::isnan(ca[k])) {
        CHECK(std::isnan(cb[k]));
        continue;
      }
      INFO(name << " at t = " << times[k] << ": factor run " << ca[k] << ", X-flow run " << cb[k]);
      if (std::isinf(ca[k])) {
        CHECK(cb[k] == ca[k]);
        continue;
      }
      // Differences of nearly equal numbers (drops, residuals) are compared
      // absolutely, on the scale of G(0) ~ 1; the projection residual is at
      // rounding level in both runs.
      const bool absolute = name == "energy_drop" || name == "energy_residual" ||
                            name.rfind("sv_law_residual", 0) == 0 || name == "dist_Mb_proj_residual";
      if (absolute) CHECK(std::abs(ca[k] - cb[k]) < 1e-6);
      // The upper bound is the distance to the point the projection and its
      // (finitely many) tangent refinements reach: rotation-equivariant in
      // exact arithmetic, but where the refinement stops depends on rounding.
      else if (name == "dist_Mb_upper") CHECK(std::abs(ca[k] - cb[k]) <= 1e-4 * std::abs(ca[k]) + 1e-12);
      else CHECK(std::abs(ca[k] - cb[k]) <= 1e-7 * std::abs(ca[k]) + 1e-13);
    }
  }
  // The run approaches the truth: E_3 falls; the LICQ margin stays positive.
  const auto E3 = a.column("E_3");
  CHECK(E3.back() < E3.front());
}
