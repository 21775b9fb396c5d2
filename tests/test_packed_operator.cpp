// Packed coordinates and the sensing operators against identities and the
// dense reference sum over A_i (tests/oracles.hpp).
//
// Rounding bounds used throughout: a computed dot product of n terms obeys
// |fl(sum x_k y_k) - sum x_k y_k| <= gamma_n sum |x_k y_k|, gamma_n = n u / (1 - n u)
// (Higham, Accuracy and Stability, 3.1). When two computations of the same
// quantity are compared, the bound is the sum of both, plus a few u for the
// sqrt(2) scalings of packed coordinates. The tolerances below are these
// bounds with the term counts spelled out; a real defect (a missing sqrt 2,
// a transposed index, a wrong scale) shows up as an O(1) relative error.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::Sci;
using oracle::gamma_n;
using oracle::unit_roundoff;

namespace {

Matrix random_symmetric(Index d, Rng& rng) {
  const Matrix G = rng.normal_matrix(d, d);
  return 0.5 * (G + G.transpose());
}

}  // namespace

TEST_CASE("packed coordinates round trip and keep the Frobenius inner product",
          "[oracle][packed]") {
  Rng rng(101);
  for (Index d : {1, 2, 7, 20}) {
    INFO("d = " << d);
    const Index D = packed_size(d);
    CHECK(D == d * (d + 1) / 2);
    const Matrix X = random_symmetric(d, rng), Y = random_symmetric(d, rng);

    Vector x, y;
    pack_symmetric(X, x);
    pack_symmetric(Y, y);
    REQUIRE(x.size() == D);

    // Round trip: each off-diagonal entry is multiplied by fl(sqrt 2) and then
    // by fl(1/sqrt 2), four roundings in all: |error| <= 4u |X_ij|; the
    // diagonal passes through untouched (exactly).
    Matrix back;
    unpack_symmetric(x, d, back);
    REQUIRE(back.rows() == d);
    REQUIRE(back.cols() == d);
    CHECK(back == back.transpose());
    for (Index i = 0; i < d; ++i) {
      CHECK(back(i, i) == X(i, i));
      for (Index j = i + 1; j < d; ++j) CHECK(std::abs(back(i, j) - X(i, j)) <= 4 * unit_roundoff * std::abs(X(i, j)));
    }

    // <vech X, vech Y> = <X, Y>_F: two sums of D resp. d^2 terms and the
    // roundings of the sqrt 2 scaling (3u per off-diagonal product).
    const double abs_sum = (X.cwiseAbs().array() * Y.cwiseAbs().array()).sum();
    const double tol = (gamma_n(D) + gamma_n(d * d) + 3 * unit_roundoff) * abs_sum;
    CHECK(std::abs(x.dot(y) - oracle::frobenius_inner(X, Y)) <= tol);
    CHECK(std::abs(x.squaredNorm() - X.squaredNorm()) <= tol);
  }
}

TEST_CASE("packed coordinates: layout is the upper triangle row by row, only it is read",
          "[oracle][packed]") {
  const Index d = 4;
  Index k = 0;
  for (Index i = 0; i < d; ++i) {
    for (Index j = i; j < d; ++j, ++k) {
      // E = e_i e_j^T + e_j e_i^T (i != j) has <E, E> = 2, so vech(E) must be
      // sqrt(2) at position k; the diagonal unit matrix gives 1.
      Matrix E = Matrix::Zero(d, d);
      E(i, j) = 1;
      E(j, i) = 1;
      Vector e;
      pack_symmetric(E, e);
      INFO("entry (" << i << ", " << j << ") at packed index " << k);
      CHECK(e[k] == (i == j ? 1.0 : std::sqrt(2.0)));
      CHECK(e.cwiseAbs().sum() == e[k]);
    }
  }
  // The strict lower triangle is ignored: garbage there changes nothing.
  Rng rng(102);
  Matrix X = random_symmetric(d, rng);
  Vector clean, dirty;
  pack_symmetric(X, clean);
  X.triangularView<Eigen::StrictlyLower>().setConstant(1e300);
  pack_symmetric(X, dirty);
  CHECK(clean == dirty);
}

namespace {

/// Checks <A(X), y> = <X, A*(y)> for random X, y against the rounding bound.
void check_adjoint_identity(const SensingOperator& op, double abs_scale_bound, Rng& rng) {
  const Index d = op.dim(), m = op.measurements();
  for (int trial = 0; trial < 5; ++trial) {
    const Matrix X = random_symmetric(d, rng);
    const Vector y = rng.normal_matrix(m, 1);
    const double lhs = op(X).dot(y);
    const double rhs = oracle::frobenius_inner(X, op.adjoint(y));
    // Both sides are the bilinear form y^T M vech(X) summed in different
    // orders: each is within gamma_{m + D + d^2} sum |y_i M_ik x_k| of it
    // (plus the sqrt 2 roundings), and abs_scale_bound >= that sum.
    const double tol = 2 * (gamma_n(m + d * d + packed_size(d)) + 4 * unit_roundoff) *
                       abs_scale_bound * X.cwiseAbs().maxCoeff() * y.cwiseAbs().maxCoeff();
    INFO("trial " << trial << ": <A(X), y> = " << lhs << ", <X, A*(y)> = " << rhs);
    CHECK(Sci{std::abs(lhs - rhs)} <= tol);
  }
}

}  // namespace

TEST_CASE("adjoint identity <A(X), y> = <X, A*(y)>", "[oracle][packed][adjoint]") {
  Rng rng(103);
  SECTION("Gaussian, s = 1 (paper 000)") {
    GaussianOperator op(9, 70, GaussianScale::unit, 7);
    // sum |y_i M_ik x_k| <= max|y| max|x| sum_ik |M_ik| sqrt 2.
    check_adjoint_identity(op, std::sqrt(2.0) * op.packed_rows().cwiseAbs().sum(), rng);
  }
  SECTION("Gaussian, s = 1/sqrt(m) (paper 003)") {
    GaussianOperator op(9, 70, GaussianScale::inv_sqrt_m, 7);
    check_adjoint_identity(op, std::sqrt(2.0) * op.packed_rows().cwiseAbs().sum(), rng);
  }
  SECTION("full observation") {
    FullObservation op(9);
    check_adjoint_identity(op, 2.0 * static_cast<double>(packed_size(9)), rng);
  }
}

TEST_CASE("full observation: A(X) = vech(X), ||A(X)|| = ||X||_F, A* = unvech",
          "[oracle][packed][full]") {
  Rng rng(104);
  const Index d = 6;
  FullObservation full(d);
  // Through the base class: FullObservation's overrides of adjoint(y, S)
  // hide the allocating convenience form adjoint(y) of SensingOperator.
  const SensingOperator& op = full;
  CHECK(op.measurements() == packed_size(d));
  const Matrix X = random_symmetric(d, rng);
  Vector vech;
  pack_symmetric(X, vech);
  CHECK(op(X) == vech);
  CHECK_THAT(op(X).norm(), Catch::Matchers::WithinRel(X.norm(), 1e-14));
  // A*(A(X)) = X: the round trip bound of the first test.
  CHECK(Sci{(op.adjoint(op(X)) - X).cwiseAbs().maxCoeff()} <= 4 * unit_roundoff * X.cwiseAbs().maxCoeff());
  const Matrix U = rng.normal_matrix(d, 3);
  Matrix out;
  op.adjoint_times(vech, U, out);
  CHECK(Sci{(out - op.adjoint(vech) * U).cwiseAbs().maxCoeff()} <= gamma_n(d) * (X.cwiseAbs() * U.cwiseAbs()).maxCoeff() * 2);
}

TEST_CASE("packed Gaussian operator agrees with the dense sum over A_i",
          "[oracle][packed][dense]") {
  Rng rng(105);
  const Index d = 8, m = 50, p = 3;
  for (GaussianScale scale : {GaussianScale::unit, GaussianScale::inv_sqrt_m}) {
    const bool unit = scale == GaussianScale::unit;
    INFO((unit ? "s = 1" : "s = 1/sqrt(m)"));
    GaussianOperator gaussian(d, m, scale, 21);
    const SensingOperator& op = gaussian;  // adjoint(y) is hidden in the derived class
    CHECK(op.dim() == d);
    CHECK(op.measurements() == m);
    CHECK(gaussian.scale_factor() == (unit ? 1.0 : 1.0 / std::sqrt(double(m))));
    const oracle::DenseSensing dense(gaussian);
    const double n_apply = static_cast<double>(d * d + packed_size(d));

    // A(X)_i = s <A_i, X>: per entry, both within gamma_{d^2 + D} (+ the
    // sqrt 2 and 1/s roundings of sensing_matrix) of the exact sum of
    // |terms| = apply_abs(X)_i.
    const Matrix X = random_symmetric(d, rng);
    const Vector y_packed = op(X), y_dense = dense.apply(X), y_abs = dense.apply_abs(X);
    for (Index i = 0; i < m; ++i)
      CHECK(std::abs(y_packed[i] - y_dense[i]) <= (gamma_n(n_apply) + 8 * unit_roundoff) * y_abs[i]);

    // A*(y) = s sum_i y_i A_i, entrywise within gamma_{2m} of adjoint_abs.
    const Vector y = rng.normal_matrix(m, 1);
    const Matrix S_packed = op.adjoint(y), S_dense = dense.adjoint(y), S_abs = dense.adjoint_abs(y);
    CHECK(S_packed == S_packed.transpose());
    CHECK(((S_packed - S_dense).cwiseAbs().array() <=
           (gamma_n(2 * m) + 8 * unit_roundoff) * S_abs.array()).all());

    // The factor forms the flows call: apply_gram(U) = A(U U^T) and
    // adjoint_times(y, U) = A*(y) U. U U^T adds gamma_p relative per entry.
    const Matrix U = rng.normal_matrix(d, p);
    Vector g;
    op.apply_gram(U, g);
    const Vector g_dense = dense.apply(U * U.transpose());
    const Vector g_abs = dense.apply_abs(U.cwiseAbs() * U.cwiseAbs().transpose());
    for (Index i = 0; i < m; ++i)
      CHECK(std::abs(g[i] - g_dense[i]) <= (gamma_n(n_apply + p) + 8 * unit_roundoff) * g_abs[i]);
    Matrix AU;
    op.adjoint_times(y, U, AU);
    const Matrix AU_dense = S_dense * U;
    const Matrix AU_abs = S_abs * U.cwiseAbs();
    CHECK(((AU - AU_dense).cwiseAbs().array() <=
           (gamma_n(2 * m + d) + 8 * unit_roundoff) * AU_abs.array()).all());
    INFO("max relative deviation of A*(y)U from the dense sum: "
         << Sci{oracle::relative_error(AU, AU_dense)});
    CHECK(Sci{oracle::relative_error(AU, AU_dense)} < 1e-13);
  }
}

TEST_CASE("both Gaussian scales draw the same A_i; s only rescales", "[oracle][packed][dense]") {
  const Index d = 6, m = 40;
  GaussianOperator unit(d, m, GaussianScale::unit, 5), scaled(d, m, GaussianScale::inv_sqrt_m, 5);
  const double s = 1.0 / std::sqrt(double(m));
  // rows are fl(fl(s * c) * g) for c in {1, sqrt 2}: within 2u relative of
  // s times the unit rows (whose own rounding, fl(c * g), is shared).
  CHECK(((scaled.packed_rows() - s * unit.packed_rows()).cwiseAbs().array() <=
         3 * unit_roundoff * scaled.packed_rows().cwiseAbs().array()).all());
  for (Index i : {Index(0), Index(17), m - 1}) {
    INFO("A_" << i);
    const Matrix a = unit.sensing_matrix(i), b = scaled.sensing_matrix(i);
    CHECK(((a - b).cwiseAbs().array() <= 8 * unit_roundoff * a.cwiseAbs().array()).all());
  }
  // The operator built from given packed rows is the same operator.
  GaussianOperator copy(d, Matrix(scaled.packed_rows()), GaussianScale::inv_sqrt_m);
  REQUIRE(copy.measurements() == m);
  CHECK(copy.scale_factor() == scaled.scale_factor());
  Rng rng(106);
  const Matrix X = random_symmetric(d, rng);
  CHECK(copy(X) == scaled(X));
  // Seeded: the same seed gives the same operator, another seed another.
  GaussianOperator again(d, m, GaussianScale::unit, 5), other(d, m, GaussianScale::unit, 6);
  CHECK(again.packed_rows() == unit.packed_rows());
  CHECK(other.packed_rows() != unit.packed_rows());
}

TEST_CASE("the A_i are symmetric with iid N(0, 1) upper-triangular entries",
          "[oracle][packed][statistics]") {
  // n entries of a seeded draw; each test statistic below is a mean of n iid
  // terms, so the bound 5 standard errors is exceeded by a correct generator
  // with probability < 6e-7 (and the seed makes the outcome reproducible),
  // while a wrong scale (variance 2 or 1/2 for a mishandled sqrt 2 on the
  // off-diagonal, or s left in) misses it by > 10 standard errors.
  const Index d = 10, m = 2000;
  GaussianOperator op(d, m, GaussianScale::inv_sqrt_m, 2024);
  std::vector<double> diag, off;
  for (Index i = 0; i < m; ++i) {
    const Matrix A = op.sensing_matrix(i);
    REQUIRE(A == A.transpose());
    for (Index a = 0; a < d; ++a) {
      diag.push_back(A(a, a));
      for (Index b = a + 1; b < d; ++b) off.push_back(A(a, b));
    }
  }
  auto check_standard_normal = [](const std::vector<double>& x, const char* what) {
    const double n = static_cast<double>(x.size());
    double mean = 0, m2 = 0, m4 = 0, lag = 0;
    for (double v : x) mean += v;
    mean /= n;
    for (std::size_t k = 0; k < x.size(); ++k) {
      m2 += x[k] * x[k];
      m4 += x[k] * x[k] * x[k] * x[k];
      if (k > 0) lag += x[k] * x[k - 1];
    }
    m2 /= n;
    m4 /= n;
    lag /= n - 1;
    INFO(what << ": n = " << n << ", mean " << mean << ", E x^2 " << m2 << ", E x^4 " << m4
              << ", E x_k x_(k-1) " << lag);
    // Var(x) = 1, Var(x^2) = 2, Var(x^4) = E x^8 - 9 = 96, Var(x_k x_(k-1)) = 1.
    CHECK(std::abs(mean) <= 5 * std::sqrt(1 / n));
    CHECK(std::abs(m2 - 1) <= 5 * std::sqrt(2 / n));
    CHECK(std::abs(m4 - 3) <= 5 * std::sqrt(96 / n));
    CHECK(std::abs(lag) <= 5 * std::sqrt(1 / n));
  };
  check_standard_normal(diag, "diagonal entries");
  check_standard_normal(off, "upper off-diagonal entries");
}
