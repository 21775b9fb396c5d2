// Oracles for the spectral kernels: extreme eigenpairs (dense vs Lanczos and
// the eigen-equation), ||A|| against a dense SVD of the packed matrix, and
// sigma_m(Dg(U)) against the dense Jacobian, with the Jacobian itself checked
// by adjointness, K_ij = s^2 <A_i U, A_j U> and grad G_c = 4c Dg*[g].
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {
Matrix random_symmetric(Index d, Rng& rng) {
  Matrix G = rng.normal_matrix(d, d);
  return 0.5 * (G + G.transpose());
}
}  // namespace

TEST_CASE("extreme_eigenpairs: Lanczos agrees with dense and satisfies S v = lambda v",
          "[theory][analysis][eigs]") {
  Rng rng(11);
  const Index n = 150;
  const Matrix B = rng.normal_matrix(n, n);
  const Matrix S = B * B.transpose() / static_cast<double>(n);
  const SymmetricOperator op = [&](const Vector& x, Vector& y) { y = S * x; };
  for (auto end : {EigenEnd::largest, EigenEnd::smallest}) {
    EigenOptions dense;
    dense.method = EigenMethod::dense;
    EigenOptions lanczos;
    lanczos.method = EigenMethod::lanczos;
    lanczos.tol = 1e-12;
    auto a = extreme_eigenpairs(op, n, 3, end, dense);
    auto b = extreme_eigenpairs(op, n, 3, end, lanczos);
    REQUIRE(a.converged);
    REQUIRE(b.converged);
    CHECK(a.method == "dense");
    CHECK(b.method == "lanczos");
    for (int k = 0; k < 3; ++k) {
      INFO("end " << (end == EigenEnd::largest ? "largest" : "smallest") << ", k = " << k);
      // Lanczos accuracy is relative to the spectrum's scale ||S||, also at the small end.
      CHECK_THAT(b.values[k], WithinAbs(a.values[k], 1e-11 * S.norm()));
      CHECK((S * b.vectors.col(k) - b.values[k] * b.vectors.col(k)).norm() < 1e-6 * a.values.cwiseAbs().maxCoeff());
    }
    // Ordered from the requested end.
    if (end == EigenEnd::largest) CHECK(a.values[0] >= a.values[2]);
    else CHECK(a.values[0] <= a.values[2]);
  }
  CHECK_THROWS_AS(extreme_eigenpairs(op, n, 0, EigenEnd::largest), std::invalid_argument);
  CHECK_THROWS_AS(extreme_eigenpairs(op, n, n + 1, EigenEnd::largest), std::invalid_argument);
}

TEST_CASE("operator_norm matches the largest singular value of the dense packed matrix",
          "[theory][analysis][opnorm]") {
  for (auto scale : {GaussianScale::unit, GaussianScale::inv_sqrt_m}) {
    for (auto [d, m] : {std::pair<Index, Index>{6, 40}, {12, 200}, {9, 20}}) {
      GaussianOperator op(d, m, scale, 100 + d + m);
      const Matrix M = packed_matrix(op);
      // The packed matrix is the operator: M vech(X) = A(X).
      Rng rng(5);
      const Matrix X = random_symmetric(d, rng);
      Vector vx;
      pack_symmetric(X, vx);
      REQUIRE((M * vx - op(X)).norm() < 1e-12 * op(X).norm());

      const double oracle = Eigen::JacobiSVD<Matrix>(M).singularValues()[0];
      EigenOptions dense, lanczos;
      dense.method = EigenMethod::dense;
      lanczos.method = EigenMethod::lanczos;
      const OperatorNorm a = operator_norm(op, dense);
      const OperatorNorm b = operator_norm(op, lanczos);
      INFO("d = " << d << ", m = " << m);
      REQUIRE(a.converged);
      REQUIRE(b.converged);
      CHECK_THAT(a.value, WithinRel(oracle, 1e-12));
      CHECK_THAT(b.value, WithinRel(oracle, 1e-10));
      // The maximizer attains it.
      CHECK_THAT(a.maximizer.norm(), WithinRel(1.0, 1e-12));
      CHECK_THAT(op(b.maximizer).norm(), WithinRel(oracle, 1e-8));
    }
  }
  // Full observation is an isometry on symmetric matrices: ||A|| = 1.
  FullObservation full(7);
  CHECK_THAT(operator_norm(full).value, WithinRel(1.0, 1e-12));
}

TEST_CASE("Dg(U) and its adjoint: (10), (11), K_ij = s^2 <A_i U, A_j U>, grad G_c = 4c Dg*[g]",
          "[theory][analysis][licq]") {
  const Index d = 7, p = 3, m = 25;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 7);
  Rng rng(3);
  const Matrix U = rng.normal_matrix(d, p);
  const Matrix Delta = rng.normal_matrix(d, p);
  const Vector delta = rng.normal_matrix(m, 1).col(0);
  // Adjointness <Dg[Delta], delta> = <Delta, Dg*[delta]>.
  const double lhs = dg_apply(*op, U, Delta).dot(delta);
  const double rhs = (Delta.array() * dg_adjoint(*op, U, delta).array()).sum();
  CHECK_THAT(lhs, WithinRel(rhs, 1e-12));
  // Dg is the derivative of g(U) = (A(UU^T) - b)/2: central differences.
  auto problem = Problem::noiseless(op, planted_trace_one(d, 2, 4));
  SensingLoss loss(problem, loss_constant::paper000);
  const double eps = 1e-6;
  const Vector fd = (loss.residual(U + eps * Delta) - loss.residual(U - eps * Delta)) / (4 * eps);
  CHECK((fd - dg_apply(*op, U, Delta)).norm() < 1e-7 * fd.norm());
  // K entries from the sensing matrices (scale s = 1/sqrt(m)).
  const Matrix K = licq_gram(*op, U);
  const double s2 = 1.0 / static_cast<double>(m);
  for (auto [i, j] : {std::pair<Index, Index>{0, 0}, {3, 7}, {24, 11}}) {
    const double kij = s2 * ((op->sensing_matrix(i) * U).array() * (op->sensing_matrix(j) * U).array()).sum();
    CHECK_THAT(K(i, j), WithinRel(kij, 1e-10));
  }
  // grad G_c = 2c A*(r) U = 4c Dg*[g] with g = r/2, for both constants.
  for (double c : {loss_constant::paper000, loss_constant::paper003}) {
    SensingLoss lc(problem, c);
    Matrix grad;
    lc.gradient(U, grad);
    const Matrix viaDg = 4 * c * dg_adjoint(*op, U, 0.5 * lc.residual(U));
    CHECK((grad - viaDg).norm() < 1e-12 * grad.norm());
  }
}

TEST_CASE("licq_margin: sqrt(lambda_min(K)) equals sigma_m of the dense Jacobian; Lanczos agrees",
          "[theory][analysis][licq]") {
  // m = 30 < D = 36: Dg(U) maps onto R^m only if the operator itself has rank m.
  const Index d = 8, p = 8, m = 30;
  GaussianOperator op(d, m, GaussianScale::unit, 21);
  Rng rng(8);
  const Matrix U = rng.normal_matrix(d, p);
  // Dense Jacobian J (m x dp), column k = Dg(U)[E_k].
  Matrix J(m, d * p);
  for (Index k = 0; k < d * p; ++k) {
    Matrix E = Matrix::Zero(d, p);
    E(k % d, k / d) = 1.0;
    J.col(k) = dg_apply(op, U, E);
  }
  const Vector sv = Eigen::JacobiSVD<Matrix>(J).singularValues();
  const double oracle = sv[m - 1];  // the m-th largest
  REQUIRE(oracle > 0);
  EigenOptions dense, lanczos;
  dense.method = EigenMethod::dense;
  lanczos.method = EigenMethod::lanczos;
  lanczos.tol = 1e-12;
  const LicqMargin a = licq_margin(op, U, dense);
  const LicqMargin b = licq_margin(op, U, lanczos);
  REQUIRE(a.converged);
  REQUIRE(b.converged);
  CHECK(b.method == "lanczos");
  CHECK_THAT(a.sigma_m, WithinRel(oracle, 1e-9));
  CHECK_THAT(b.sigma_m, WithinRel(oracle, 1e-7));
  // Invariant under U -> U Q and computable from X = U U^T.
  Eigen::HouseholderQR<Matrix> qr(rng.normal_matrix(p, p));
  const Matrix Q = qr.householderQ();
  CHECK_THAT(licq_margin(op, U * Q, dense).sigma_m, WithinRel(oracle, 1e-9));
  CHECK_THAT(licq_margin_from_gram(op, U * U.transpose(), dense).sigma_m, WithinRel(oracle, 1e-9));

  // LICQ fails when the image of Dg is too small: rank-1 U gives at most
  // d = 8 independent directions A(sym(a u^T)), fewer than m = 30.
  const Matrix u1 = rng.normal_matrix(d, 1);
  const Matrix U1 = u1 * rng.normal_matrix(1, p);
  const LicqMargin f = licq_margin(op, U1, dense);
  const double top = extreme_eigenpairs(licq_operator_from_gram(op, U1 * U1.transpose()), m, 1,
                                        EigenEnd::largest, dense).values[0];
  CHECK(std::abs(f.lambda_min) < 1e-12 * top);
  CHECK(f.sigma_m < 1e-6 * std::sqrt(top));
}
