// The loss family G_c(U) = (c/2)||A(UU^T) - b||^2 against finite differences
// and identities, and the planted models against their definitions.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::relative_error;
using oracle::Sci;
using oracle::gamma_n;
using oracle::unit_roundoff;

namespace {

struct Case {
  const char* name;
  GaussianScale scale;
  double c;
};

// Both scales with both loss constants (the papers pair s = 1 with c = 1/4
// and s = 1/sqrt(m) with c = 1/2; the other pairings must work as well).
const std::vector<Case> cases = {
    {"s = 1, c = 1/4 (paper 000)", GaussianScale::unit, loss_constant::paper000},
    {"s = 1/sqrt(m), c = 1/2 (paper 003)", GaussianScale::inv_sqrt_m, loss_constant::paper003},
    {"s = 1, c = 1/2", GaussianScale::unit, loss_constant::paper003},
    {"s = 1/sqrt(m), c = 1/4", GaussianScale::inv_sqrt_m, loss_constant::paper000},
};

constexpr Index d = 8, m = 60, p = 3;

std::shared_ptr<GaussianOperator> gaussian(GaussianScale scale) {
  return std::make_shared<GaussianOperator>(d, m, scale, 31);
}

/// A factor with U U^T = X for a PSD X of rank r, from its eigendecomposition.
Matrix factor_of(const Matrix& X, Index r) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(X);
  return eig.eigenvectors().rightCols(r) *
         eig.eigenvalues().tail(r).cwiseMax(0.0).cwiseSqrt().asDiagonal();
}

}  // namespace

TEST_CASE("gradient of G_c equals central finite differences, entry by entry",
          "[oracle][loss][gradient]") {
  for (const auto& cs : cases) {
    INFO(cs.name);
    auto op = gaussian(cs.scale);
    const oracle::DenseSensing dense(*op);
    const Problem problem = Problem::noiseless(op, planted_trace_one(d, 2, 32));
    const SensingLoss loss(problem, cs.c);
    const Matrix U = random_factor(d, p, p, 1.0, 33);

    Matrix grad;
    const double value = loss.value_and_gradient(U, grad);
    CHECK(value == loss.value(U));
    CHECK(value == 0.5 * cs.c * loss.training_error(U));
    CHECK(loss.training_error(U) == loss.residual(U).squaredNorm());

    // G(U + e E_jk) is a quartic in e, so the five-point stencil is exact up
    // to rounding: |fd - dG/dU_jk| <= (18/12) err_G / e, where err_G bounds
    // the absolute rounding error of one evaluation of G,
    //   err_G <= c sum_i |r_i| gamma_n (sum_k |A_ik x_k| + |b_i|), n = d^2 + D + p,
    // (r_i = A(UU^T)_i - b_i, squared and summed: a further gamma_m G).
    // We use 4 times that, evaluated at U (the stencil points are within
    // 0.2 ||U|| of it), with e = 0.1 ||U||_F.
    const Vector r = loss.residual(U);
    const Vector terms = dense.apply_abs(U.cwiseAbs() * U.cwiseAbs().transpose()) + problem.b.cwiseAbs();
    const double n = double(d * d + d * (d + 1) / 2 + p);
    const double err_G = cs.c * (r.cwiseAbs().array() * terms.array()).sum() * gamma_n(n) + gamma_n(m) * value;
    const double e = 0.1 * U.norm();
    const double tol = 4 * 1.5 * err_G / e;
    double worst = 0;
    for (Index j = 0; j < d; ++j) {
      for (Index k = 0; k < p; ++k) {
        Matrix E = Matrix::Zero(d, p);
        E(j, k) = 1;
        const double fd = oracle::five_point_derivative(
            [&](double t) { return loss.value(U + t * E); }, e);
        worst = std::max(worst, std::abs(fd - grad(j, k)));
        CHECK(std::abs(fd - grad(j, k)) <= tol);
      }
    }
    INFO("largest deviation " << Sci{worst} << ", bound " << Sci{tol} << ", ||grad|| " << grad.norm());
    CHECK(Sci{worst / grad.norm()} < 1e-11);

    // And independently of FD: grad = (c/2) * 4 A*(r) U from the dense sum.
    CHECK(Sci{relative_error(grad, 0.5 * cs.c * dense.gradient_of_squared_residual(U, problem.b))} <
          1e-13);
  }
}

TEST_CASE("Hessian-vector product equals finite differences of the gradient and is symmetric",
          "[oracle][loss][hessian]") {
  Rng rng(34);
  for (const auto& cs : cases) {
    INFO(cs.name);
    auto op = gaussian(cs.scale);
    const Problem problem = Problem::noiseless(op, planted_trace_one(d, 2, 35));
    const SensingLoss loss(problem, cs.c);
    FactorFlow flow(loss);
    // A generic point (large residual: the A*(r) V term matters) and a point
    // near the planted factor (small residual: the Gauss-Newton term rules).
    const Matrix U_star = factor_of(problem.planted, 2);
    const std::vector<std::pair<const char*, Matrix>> points = {
        {"generic U", random_factor(d, p, p, 1.0, 36)},
        {"U near the planted factor", Matrix(U_star + 1e-3 * rng.normal_matrix(d, 2))},
    };
    for (const auto& [where, U] : points) {
      INFO(where);
      const Index width = U.cols();
      for (int trial = 0; trial < 3; ++trial) {
        const Matrix V = rng.normal_matrix(d, width);
        Matrix HV;
        loss.hessian_vector(U, V, HV);

        // grad G(U + eV) is a cubic in e: the five-point stencil is exact up
        // to rounding. One gradient is computed to ~ gamma_{m + D + d^2} of
        // its term scale (~1e-13 relative here), the stencil multiplies by
        // 1.5 / e with e ||V|| = 0.1 ||U||: at worst ~1e-11 of
        // ||grad|| / ||U||, the size of ||HV|| / ||V|| (measured: ~1e-15,
        // rounding errors do not add up in the worst case). 1e-10 is 10x
        // the worst case and 1e10 below the O(1) error of a missing term.
        const double e = 0.1 * U.norm() / V.norm();
        const Matrix fd = oracle::five_point_derivative(
            [&](double t) -> Matrix {
              Matrix g;
              loss.gradient(U + t * V, g);
              return g;
            },
            e);
        CHECK(Sci{relative_error(HV, fd)} < 1e-10);

        // <W, H V> = <H W, V> (the Hessian of a scalar function): each side
        // is ~1e-14 relative from its inputs; 1e-12 is a margin of 100.
        const Matrix W = rng.normal_matrix(d, width);
        Matrix HW;
        loss.hessian_vector(U, W, HW);
        const double a = oracle::frobenius_inner(W, HV), b = oracle::frobenius_inner(HW, V);
        CHECK(Sci{std::abs(a - b) / (W.norm() * HV.norm() + HW.norm() * V.norm())} < 1e-12);

        // The flow's Jacobian-vector product is -H[V], exactly.
        Matrix JV;
        flow.jacobian_vector(U, V, JV);
        CHECK(JV == -HV);
      }
    }
  }
}

TEST_CASE("the Gram velocity is d/dt (U U^T) along the factor flow", "[oracle][loss][gram]") {
  // X' = U'U^T + U U'^T = -(grad U^T + U grad^T) = -2c (A*(r) X + X A*(r)),
  // paper 000 (30). Computed along two routes; each is ~1e-14 relative.
  for (const auto& cs : cases) {
    INFO(cs.name);
    auto op = gaussian(cs.scale);
    const SensingLoss loss(Problem::noiseless(op, planted_trace_one(d, 2, 37)), cs.c);
    const Matrix U = random_factor(d, d, 4, 2.0, 38);
    Matrix grad, dX;
    loss.gradient(U, grad);
    loss.gram_velocity(U * U.transpose(), dX);
    CHECK(dX == dX.transpose());
    const Matrix expected = -(grad * U.transpose() + U * grad.transpose());
    CHECK(Sci{relative_error(dX, expected)} < 1e-12);
  }
}

TEST_CASE("loss, residual and gradient vanish at the planted matrix", "[oracle][loss][planted]") {
  // U with U U^T = X♮ from X♮'s eigendecomposition reproduces X♮ to ~d u
  // relative (backward stable eigensolver); A then maps that to
  // ||A(UU^T) - b|| <= ||M||_2 ||UU^T - X♮||_F + gamma_D ||b||-ish, a few 1e-15
  // of ||b||. 1e-12 ||b|| leaves a margin of ~100; a wrong loss (b with
  // another scale, a transposed A_i) gives O(||b||).
  for (const auto& cs : cases) {
    INFO(cs.name);
    auto op = gaussian(cs.scale);
    for (const auto& planted : {planted_trace_one(d, 2, 39), planted_orthogonal(d, {1.0, 0.5, 0.25}, 40)}) {
      const Problem problem = Problem::noiseless(op, planted);
      const SensingLoss loss(problem, cs.c);
      Eigen::SelfAdjointEigenSolver<Matrix> eig(planted);
      const Index r = (eig.eigenvalues().array() > 1e-10).count();
      const Matrix U = factor_of(planted, r);
      CHECK(Sci{relative_error(Matrix(U * U.transpose()), planted)} < 1e-14);
      const Vector res = loss.residual(U);
      CHECK(Sci{res.norm() / problem.b.norm()} < 1e-12);
      CHECK(loss.value(U) <= 0.5 * cs.c * std::pow(1e-12 * problem.b.norm(), 2));
      Matrix grad;
      loss.gradient(U, grad);
      // ||grad||_F = 2c ||A*(r) U||_F <= 2c ||M||_F ||r|| ||U||_2.
      const double M_F = op->packed_rows().norm();
      CHECK(grad.norm() <= 2 * cs.c * M_F * 1e-12 * problem.b.norm() * U.norm());
    }
  }
  SECTION("full observation") {
    const Matrix Z = planted_orthogonal(d, {2.0, 1.0}, 41);
    const SensingLoss loss(Problem::noiseless(std::make_shared<FullObservation>(d), Z), 0.5);
    const Matrix U = factor_of(Z, 2);
    CHECK(Sci{loss.residual(U).norm() / Z.norm()} < 1e-14);
  }
}

TEST_CASE("planted_trace_one is PSD with rank r and trace 1", "[oracle][planted]") {
  for (auto [dd, r] : std::vector<std::pair<Index, Index>>{{30, 2}, {10, 10}, {5, 1}, {12, 5}}) {
    INFO("d = " << dd << ", r = " << r);
    const Matrix X = planted_trace_one(dd, r, 42);
    REQUIRE(X.rows() == dd);
    REQUIRE(X.cols() == dd);
    CHECK(X == X.transpose());
    // trace: a sum of d entries each ~u relative after the division: gamma_d.
    CHECK_THAT(X.trace(), Catch::Matchers::WithinAbs(1.0, 4 * gamma_n(dd)));
    // Rank r: the r nonzero eigenvalues are O(1/r) (a Wishart spectrum), the
    // others are rounding, <= ~d u ||X||; 1e-12 separates the two by orders.
    Eigen::SelfAdjointEigenSolver<Matrix> eig(X);
    const Vector l = eig.eigenvalues();  // ascending
    const double top = l.maxCoeff();
    CHECK((l.head(dd - r).cwiseAbs().array() <= 1e-12 * top).all());
    CHECK((l.tail(r).array() > 1e-6 * top).all());
  }
  // Seeded: same seed, same matrix.
  CHECK(planted_trace_one(7, 3, 5) == planted_trace_one(7, 3, 5));
  CHECK_THROWS_AS(planted_trace_one(5, 6, 1), std::invalid_argument);
  CHECK_THROWS_AS(planted_trace_one(5, 0, 1), std::invalid_argument);
}

TEST_CASE("planted_orthogonal has exactly the requested eigenvalues", "[oracle][planted]") {
  const std::vector<double> wanted = {0.5, 4.0, 1.0, 2.0};  // any order
  const Index dd = 20;
  const Matrix Z = planted_orthogonal(dd, wanted, 43);
  CHECK(Z == Z.transpose());
  Eigen::SelfAdjointEigenSolver<Matrix> eig(Z);
  const Vector l = eig.eigenvalues();  // ascending
  // Q has orthonormal columns to ~d u, so the eigenvalues are within ~d u
  // ||Z|| of the request (Weyl); 1e-13 relative to the largest.
  const std::vector<double> sorted = {0.5, 1.0, 2.0, 4.0};
  for (std::size_t k = 0; k < 4; ++k)
    CHECK_THAT(l[dd - 4 + Index(k)], Catch::Matchers::WithinAbs(sorted[k], 1e-13 * 4.0));
  CHECK((l.head(dd - 4).cwiseAbs().array() <= 1e-13 * 4.0).all());
  CHECK_THROWS_AS(planted_orthogonal(3, {1, 1, 1, 1}, 1), std::invalid_argument);
  CHECK_THROWS_AS(planted_orthogonal(3, {1, -1}, 1), std::invalid_argument);
  CHECK_THROWS_AS(planted_orthogonal(3, {}, 1), std::invalid_argument);
}

TEST_CASE("random_factor has the requested rank and Frobenius norm", "[oracle][planted]") {
  struct Want {
    Index d, p, r;
    double norm;
  };
  for (const Want& w : std::vector<Want>{{30, 30, 2, 1e-3}, {30, 30, 30, 1e3}, {10, 4, 4, 1.0},
                                          {10, 4, 2, 1.0}, {4, 10, 3, 5.0}}) {
    INFO("d = " << w.d << ", p = " << w.p << ", r = " << w.r << ", norm = " << w.norm);
    const Matrix U = random_factor(w.d, w.p, w.r, w.norm, 44);
    REQUIRE(U.rows() == w.d);
    REQUIRE(U.cols() == w.p);
    // Scaling by norm / ||GH^T||: a few roundings and a d p term sum.
    CHECK_THAT(U.norm(), Catch::Matchers::WithinRel(w.norm, 4 * gamma_n(double(w.d * w.p))));
    // Rank r: singular values r+1.. of G H^T are rounding (~ (d + p) u
    // sigma_1); the r-th of a product of Gaussian matrices is not small.
    const Vector s = Eigen::JacobiSVD<Matrix>(U).singularValues();
    const Index k = std::min(w.d, w.p);
    CHECK((s.head(w.r).array() > 1e-6 * s[0]).all());
    if (w.r < k) CHECK((s.tail(k - w.r).array() <= 1e-13 * s[0]).all());
  }
  CHECK_THROWS_AS(random_factor(4, 4, 5, 1.0, 1), std::invalid_argument);
  CHECK_THROWS_AS(random_factor(4, 4, 2, 0.0, 1), std::invalid_argument);
  CHECK_THROWS_AS(random_factor(4, 0, 1, 1.0, 1), std::invalid_argument);
}

namespace {

/// Example 1.1 of paper 000 at its own sizes: d = 30, m = 4 r d = 240, s = 1,
/// c = 1/4, rank-2 trace-1 X♮.
struct Example11 {
  std::shared_ptr<GaussianOperator> op = std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, 71);
  Problem problem = Problem::noiseless(op, planted_trace_one(30, 2, 72));
  SensingLoss loss{problem, loss_constant::paper000};
};

}  // namespace

TEST_CASE("the loss never increases along an adaptive (dopri5) run", "[oracle][flow][monotone]") {
  // dG/dt = -||grad G||^2 <= 0 along the exact flow. The numerical G may
  // only rise by what rounding lets one evaluation of G wobble: with
  // r = A(UU^T) - b computed to within delta_i = gamma_n ((|M| vech|X|)_i + |b_i|)
  // (n = D + d p terms), G = (c/2)||r||^2 is within c ||r|| ||delta|| + (c/2)||delta||^2.
  // That allowance only matters once the run sits at the rounding floor.
  Example11 ex;
  const Index dd = ex.op->dim();
  const Matrix M_abs = ex.op->packed_rows().cwiseAbs();
  const double c = ex.loss.c();
  for (double norm : {1e-3, 1.0}) {
    INFO("||U0||_F = " << norm);
    FactorFlow flow(ex.loss);
    IntegrateOptions options;
    options.stepper = StepperKind::dopri5;
    options.rtol = 1e-10;
    options.atol = 1e-14;
    std::vector<double> G, allowance;
    Watch watch;
    watch.observe = [&](const Matrix& U, const StepInfo&) {
      const Vector r = ex.loss.residual(U);
      Vector x_abs;
      pack_symmetric(Matrix(U.cwiseAbs() * U.cwiseAbs().transpose()), x_abs);
      const double n = double(packed_size(dd) + dd * U.cols());
      const Vector delta = gamma_n(n) * (M_abs * x_abs + ex.problem.b.cwiseAbs());
      G.push_back(0.5 * c * r.squaredNorm());
      allowance.push_back(c * r.norm() * delta.norm() + 0.5 * c * delta.squaredNorm());
    };
    Matrix U = random_factor(dd, dd, dd, norm, 73);
    const Summary summary = integrate(flow, U, log_times(1e-4, 30.0, 150), options, watch);
    INFO(summary.message);
    REQUIRE(summary.termination == Termination::completed);
    REQUIRE(G.size() == 151);
    double worst = -1;  // largest increase in units of the allowance
    for (std::size_t k = 1; k < G.size(); ++k) {
      const double rise = G[k] - G[k - 1];
      worst = std::max(worst, rise / (allowance[k] + allowance[k - 1]));
      CHECK(rise <= allowance[k] + allowance[k - 1]);
    }
    INFO("G from " << G.front() << " to " << G.back() << "; largest rise / allowance " << worst);
    CHECK(G.back() < 1e-6 * G.front());  // the run went somewhere
  }
}

TEST_CASE("a rank-2 start stays numerically rank 2 along the full factor flow",
          "[oracle][flow][rank]") {
  // U(t) = Phi(t) U0 (DESIGN.md): the row space of U never changes, and every
  // Runge-Kutta stage is a combination of products S U with the current U,
  // so the computed U keeps rank 2 up to rounding (sigma_3 / sigma_1 ~ 1e-15),
  // far below RankMetric's relative tolerance 1e-8; the full-rank control
  // shows the metric can report more than 2.
  Example11 ex;
  const Index dd = ex.op->dim();
  for (auto [rank, norm] : std::vector<std::pair<Index, double>>{{2, 1e-3}, {2, 1.0}, {dd, 1.0}}) {
    INFO("rank(U0) = " << rank << ", ||U0||_F = " << norm);
    FactorFlow flow(ex.loss);
    Recorder recorder(ex.loss, StateKind::factor, standard_metrics(&ex.problem.planted, 1e-8, 3));
    Matrix U = random_factor(dd, dd, rank, norm, 74);
    IntegrateOptions options;
    options.stepper = StepperKind::dopri5;
    // The full-rank control only needs a short run (it is the expensive one).
    const double T = rank == 2 ? 30.0 : 1.0;
    const Summary summary = integrate(flow, U, log_times(1e-3, T, 40), options, {recorder.observer()});
    INFO(summary.message);
    REQUIRE(summary.termination == Termination::completed);
    const auto ranks = recorder.trajectory().column("rank");
    REQUIRE(ranks.size() == 41);
    for (double r : ranks) CHECK(r == double(rank));
    const auto s3 = recorder.trajectory().column("sigma_3"), s1 = recorder.trajectory().column("sigma_1");
    double worst = 0;
    for (std::size_t k = 0; k < s1.size(); ++k) worst = std::max(worst, s3[k] / s1[k]);
    INFO("largest sigma_3 / sigma_1 " << Sci{worst});
    if (rank == 2) CHECK(Sci{worst} < 1e-12);
  }
}
