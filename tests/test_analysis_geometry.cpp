// dist(U, M_b) bounds, isometry estimates and capture radii.
// Oracles: points constructed on M_b (both bounds ~0), points at a known
// normal offset from M_b, lower <= upper on random points; the isometry of
// full observation (alpha = 1, delta = 0), the unrestricted extremes of A*A
// (k = d, and outer bounds for k < d), a brute-force sphere grid for rank 1;
// the radii formulas (6a)-(6c) and the direction logic of check_capture.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "flowsense/analysis/capture_radii.hpp"
#include "flowsense/analysis/isometry.hpp"
#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/manifold_distance.hpp"
#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

Matrix random_orthogonal(Index p, Rng& rng) {
  Eigen::HouseholderQR<Matrix> qr(rng.normal_matrix(p, p));
  return qr.householderQ() * Matrix::Identity(p, p);
}

struct Setup {
  std::shared_ptr<GaussianOperator> op;
  Problem problem;
  Matrix factor;  // d x p with factor factor^T = planted
  double op_norm;
};

/// Planted X = F F^T with F = [W, 0] (d x p, rank r) so that M_b is not empty in R^{d x p}.
Setup make_setup(Index d, Index m, Index p, Index r, std::uint64_t seed) {
  Setup s;
  s.op = std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, seed);
  Rng rng(seed + 1);
  Matrix W = rng.normal_matrix(d, r) / std::sqrt(static_cast<double>(d));
  s.factor = Matrix::Zero(d, p);
  s.factor.leftCols(r) = W;
  s.problem = Problem::noiseless(s.op, W * W.transpose());
  s.op_norm = operator_norm(*s.op).value;
  return s;
}

}  // namespace

TEST_CASE("dist(U, M_b): both bounds vanish on points of M_b", "[theory][analysis][manifold]") {
  Setup s = make_setup(8, 30, 8, 5, 51);
  SensingLoss loss(s.problem, loss_constant::paper000);
  Rng rng(2);
  const double xi = 2.0 * s.factor.norm();
  for (int k = 0; k < 3; ++k) {
    const Matrix U = s.factor * random_orthogonal(8, rng);
    const ManifoldDistanceBounds b = manifold_distance_bounds(loss, U, s.op_norm, xi);
    INFO(b.message);
    CHECK(b.lower < 1e-12);
    CHECK(b.upper < 1e-12);
    CHECK(b.projection.converged);
  }
}

TEST_CASE("dist(U, M_b): a known normal offset is bracketed, and lower <= upper on random points",
          "[theory][analysis][manifold]") {
  Setup s = make_setup(8, 30, 8, 6, 61);
  SensingLoss loss(s.problem, loss_constant::paper000);
  const double xi = 3.0 * s.factor.norm();
  Rng rng(6);
  // A point of M_b with LICQ: a rank-6 factor gives 8*6 - 6*5/2 = 33 >= m = 30 directions A(sym(Delta V^T)).
  const Matrix V = s.factor * random_orthogonal(8, rng);
  REQUIRE(licq_margin(*s.op, V).sigma_m > 0);
  // Normal direction N = Dg(V)*[delta] (orthogonal to the tangent space at V).
  const Vector delta = rng.normal_matrix(30, 1).col(0);
  const Matrix N = dg_adjoint(*s.op, V, delta);
  for (double eps : {1e-3, 1e-2}) {
    const Matrix U = V + eps * V.norm() / N.norm() * N;
    const double offset = (U - V).norm();  // >= dist(U, M_b), ~ equal for small eps
    const ManifoldDistanceBounds b = manifold_distance_bounds(loss, U, s.op_norm, xi);
    INFO("eps = " << eps << ": lower " << b.lower << ", upper " << b.upper << ", offset " << offset);
    REQUIRE(std::isfinite(b.upper));
    CHECK(b.lower <= b.upper);
    CHECK(b.lower <= offset * (1 + 1e-12));
    CHECK(b.upper <= offset * (1 + 10 * eps));  // the projection finds (nearly) the foot point
    CHECK(b.upper >= offset * (1 - 10 * eps));
  }
  int finite = 0;
  for (int k = 0; k < 12; ++k) {
    const double scale = std::pow(10.0, -2.0 + 0.3 * k);
    const Matrix U = V + scale * V.norm() * rng.normal_matrix(8, 8) / 8.0;
    const ManifoldDistanceBounds b = manifold_distance_bounds(loss, U, s.op_norm, xi);
    INFO("scale " << scale << ": lower " << b.lower << " upper " << b.upper << " " << b.message);
    CHECK(b.lower >= 0);
    CHECK(b.lower <= b.upper);  // also holds when upper = +inf
    CHECK(b.lower >= b.lower_free);
    CHECK(b.lower >= b.lower_xi);
    if (std::isfinite(b.upper)) {
      ++finite;
      CHECK(b.end_norm <= xi);
      CHECK(b.projection.residual <= 1e-9 * s.problem.b.norm());
    }
  }
  CHECK(finite >= 6);
}

TEST_CASE("dist(U, M_b): CG and dense solves of K give the same projection", "[theory][analysis][manifold]") {
  Setup s = make_setup(7, 24, 7, 4, 71);
  SensingLoss loss(s.problem, loss_constant::paper000);
  Rng rng(7);
  const Matrix U = s.factor * random_orthogonal(7, rng) + 0.05 * rng.normal_matrix(7, 7) / 7.0;
  ProjectionOptions dense, cg;
  dense.refine_steps = cg.refine_steps = 0;
  cg.dense_limit = 0;
  cg.inexact_newton = false;  // exact solves: the same Gauss-Newton path as the dense solve
  const ConstraintProjection a = project_onto_constraint(loss, U, dense);
  const ConstraintProjection b = project_onto_constraint(loss, U, cg);
  REQUIRE(a.converged);
  REQUIRE(b.converged);
  CHECK((a.point - b.point).norm() < 1e-8 * a.point.norm());
  CHECK(a.path_length >= a.displacement * (1 - 1e-12));
  // Inexact CG (the default for large m) reaches another point of the constraint set.
  ProjectionOptions inexact = cg;
  inexact.inexact_newton = true;
  const ConstraintProjection e = project_onto_constraint(loss, U, inexact);
  REQUIRE(e.converged);
  CHECK(e.residual <= 1e-10 * s.problem.b.norm());
  // Gauss-Newton keeps the row space: U = L R^T of rank 5 stays rank 5
  // (rank 5 leaves 7*5 - 10 = 25 >= m = 24 directions, so LICQ can hold).
  const Matrix U5 = s.factor * random_orthogonal(7, rng) + 0.05 * rng.normal_matrix(7, 5) * rng.normal_matrix(5, 7) / 7.0;
  REQUIRE(Eigen::JacobiSVD<Matrix>(U5).singularValues()[4] > 1e-3);
  const Matrix lifted = U5 * Eigen::JacobiSVD<Matrix>(U5, Eigen::ComputeFullV).matrixV().leftCols(5) *
                        Eigen::JacobiSVD<Matrix>(U5, Eigen::ComputeFullV).matrixV().leftCols(5).transpose();
  const ConstraintProjection c = project_onto_constraint(loss, lifted, dense);
  INFO(c.message);
  REQUIRE(c.converged);
  const Vector sv = Eigen::JacobiSVD<Matrix>(c.point).singularValues();
  CHECK(sv[5] < 1e-10 * sv[0]);
}

TEST_CASE("dist(U, M_b) lower bound: the closed forms", "[theory][analysis][manifold]") {
  // rho = ||r|| / ||A|| = 2; ||U|| = 1: free bound 2 / (1 + sqrt(3)), xi bound 2 / (1 + xi).
  CHECK_THAT(manifold_distance_lower_bound(4.0, 2.0, 1.0, std::nullopt), WithinRel(2.0 / (1.0 + std::sqrt(3.0)), 1e-15));
  CHECK_THAT(manifold_distance_lower_bound(4.0, 2.0, 1.0, 0.5), WithinRel(2.0 / 1.5, 1e-15));
  CHECK_THAT(manifold_distance_lower_bound(4.0, 2.0, 1.0, 10.0), WithinRel(2.0 / (1.0 + std::sqrt(3.0)), 1e-15));
  CHECK(manifold_distance_lower_bound(0.0, 2.0, 1.0, 1.0) == 0.0);
  CHECK_THROWS_AS(manifold_distance_lower_bound(1.0, 0.0, 1.0, 1.0), std::invalid_argument);
}

TEST_CASE("isometry: full observation is an exact isometry", "[theory][analysis][isometry]") {
  FullObservation op(6);
  IsometryOptions o;
  o.random_starts = 3;
  o.spectral_starts = 1;
  const IsometryEstimate e = estimate_isometry(op, 2, o);
  CHECK_THAT(e.min_ratio, WithinRel(1.0, 1e-12));
  CHECK_THAT(e.max_ratio, WithinRel(1.0, 1e-12));
  CHECK_THAT(e.alpha_upper, WithinRel(1.0, 1e-12));
  CHECK(e.rip_delta_lower < 1e-12);
}

TEST_CASE("isometry: inner estimates respect the unrestricted extremes and are exact at k = d",
          "[theory][analysis][isometry]") {
  const Index d = 6;
  GaussianOperator op(d, 40, GaussianScale::inv_sqrt_m, 81);
  const Matrix M = packed_matrix(op);
  Eigen::SelfAdjointEigenSolver<Matrix> eig(M.transpose() * M);
  const double lo = eig.eigenvalues()[0], hi = eig.eigenvalues()[eig.eigenvalues().size() - 1];
  const IsometryEstimate full = estimate_isometry(op, d);
  CHECK_THAT(full.min_ratio, WithinAbs(lo, 1e-10 * hi));
  CHECK_THAT(full.max_ratio, WithinRel(hi, 1e-10));
  for (Index k : {1, 2, 4}) {
    const IsometryEstimate e = estimate_isometry(op, k);
    INFO("k = " << k << ": " << e.message);
    CHECK(e.min_ratio >= lo - 1e-10 * hi);
    CHECK(e.max_ratio <= hi * (1 + 1e-10));
    CHECK(e.min_ratio <= e.max_ratio);
    // Witnesses: symmetric, unit norm, rank <= k, attaining the reported ratios.
    for (const Matrix* X : {&e.argmin, &e.argmax}) {
      CHECK_THAT(X->norm(), WithinRel(1.0, 1e-10));
      CHECK((*X - X->transpose()).norm() < 1e-12);
      const Vector ev = Eigen::SelfAdjointEigenSolver<Matrix>(*X).eigenvalues().cwiseAbs();
      CHECK((ev.array() > 1e-9).count() <= k);
    }
    CHECK_THAT(isometry_ratio(op, e.argmin), WithinRel(e.min_ratio, 1e-12));
    CHECK_THAT(e.rip_delta_lower, WithinRel(std::max(1 - e.min_ratio, e.max_ratio - 1), 1e-12));
  }
  // Monotone in k up to search error: a larger rank set can only widen the extremes.
  CHECK(estimate_isometry(op, 4).min_ratio <= estimate_isometry(op, 1).min_ratio * (1 + 1e-9));
}

TEST_CASE("isometry: rank 1 in d = 3 matches a brute-force sphere grid", "[theory][analysis][isometry]") {
  GaussianOperator op(3, 8, GaussianScale::inv_sqrt_m, 91);
  double grid_min = INFINITY, grid_max = 0.0;
  const int n = 300;
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j < 2 * n; ++j) {
      const double th = M_PI * i / n, ph = M_PI * j / n;  // v and -v give the same vv^T
      Vector v(3);
      v << std::sin(th) * std::cos(ph), std::sin(th) * std::sin(ph), std::cos(th);
      const double q = isometry_ratio(op, v * v.transpose());
      grid_min = std::min(grid_min, q);
      grid_max = std::max(grid_max, q);
    }
  const IsometryEstimate e = estimate_isometry(op, 1);
  INFO(e.message << "; grid [" << grid_min << ", " << grid_max << "]");
  // The search finds at least what the grid finds (grid spacing 0.01 rad: error ~1e-4 relative).
  CHECK(e.min_ratio <= grid_min * (1 + 1e-9));
  CHECK(e.max_ratio >= grid_max * (1 - 1e-9));
  CHECK(e.min_ratio >= grid_min * (1 - 1e-3));
  CHECK(e.max_ratio <= grid_max * (1 + 1e-3));
}

TEST_CASE("capture radii: formulas (6a)-(6c) and the direction of each verdict", "[theory][analysis][capture]") {
  CaptureRadiiInputs in;
  in.op_norm = 2.0;
  in.alpha = 0.5;
  in.sigma_m = 3.0;
  in.sigma_min = 0.4;
  in.xi = 1.5;
  const CaptureRadii r = capture_radii(in);
  CHECK_THAT(r.a, WithinRel(3.0 * 0.4 * 0.5 / 8.0, 1e-15));
  CHECK_THAT(r.b, WithinRel(3.0 * 0.4 * 0.5 / 16.0, 1e-15));
  CHECK_THAT(r.c, WithinRel(3.0 / 8.0 * std::min(1.0, 0.4 * 0.5 / (4 * 1.5 * 2.0)), 1e-15));
  CaptureRadiiInputs bad = in;
  bad.op_norm = 0;
  CHECK_THROWS_WITH(capture_radii(bad), Catch::Contains("op_norm"));

  Setup s = make_setup(6, 15, 6, 4, 101);  // rank 4: 6*4 - 6 = 18 >= m = 15, LICQ on M_b
  SensingLoss loss(s.problem, loss_constant::paper000);
  Rng rng(3);
  const double xi = 2.0 * s.factor.norm();
  const Matrix on = s.factor * random_orthogonal(6, rng);
  // Samples of M_b from the default starts; the planted rotations are among them.
  const auto starts = default_manifold_starts(s.problem, on, 8, 5);
  REQUIRE(starts.size() == 8);
  const ManifoldConstants mc = sample_manifold_constants(loss, xi, starts);
  INFO(mc.message);
  REQUIRE(mc.accepted >= 2);
  CHECK(mc.sigma_m <= licq_margin(*s.op, s.factor).sigma_m * (1 + 1e-9));
  const Vector sv = Eigen::JacobiSVD<Matrix>(s.factor).singularValues();
  CHECK(mc.sigma_min <= sv[3] * (1 + 1e-9));  // planted rank 4
  for (const auto& smp : mc.samples)
    if (smp.accepted) CHECK(smp.residual <= 1e-9 * s.problem.b.norm());

  CaptureRadiiInputs est{s.op_norm, 0.5, mc.sigma_m, mc.sigma_min, xi};
  // On M_b: zero training error and distance: inside the estimate for (6a), (6c).
  const auto bon = manifold_distance_bounds(loss, on, s.op_norm, xi);
  const CaptureCheck cin = check_capture(loss, s.problem.planted, on, est, bon);
  INFO(cin.explanation);
  CHECK(cin.a == Membership::inside_estimate);
  CHECK(cin.b == Membership::inside_estimate);
  CHECK(cin.c == Membership::inside_estimate);
  CHECK(cin.possibly_inside);
  // Far away: outside for every inequality, conclusively.
  const Matrix far = on + 10.0 * rng.normal_matrix(6, 6);
  const auto bfar = manifold_distance_bounds(loss, far, s.op_norm, std::nullopt);
  const CaptureCheck cout = check_capture(loss, s.problem.planted, far, est, bfar);
  CHECK(cout.a == Membership::outside);
  CHECK(cout.b == Membership::outside);
  CHECK(cout.c == Membership::outside);
  CHECK_FALSE(cout.possibly_inside);
}
