// The structured and user-supplied operators (issue 6): rank-one projections,
// entry sampling, user matrices, and noisy data. Every operator gets the same
// four checks against an oracle that shares no code with its hot path:
//
//  1. the adjoint identity <A(X), y> = <X, A*(y)>_F;
//  2. the gradient of G_c(U) = (c/2)||A(UU^T) - b||^2 against a five-point
//     finite difference (exact for the quartic e -> G_c(U + eV) up to rounding);
//  3. the factor forms apply_gram / adjoint_times against the dense path
//     apply(UU^T) / adjoint(y) U;
//  4. apply / adjoint against a dense reference built from the explicit
//     d x d matrices A_i: y_i = s sum_jk A_i(j,k) X(j,k), S = s sum_i y_i A_i.
//
// Tolerances. Each compared quantity is a sum of at most n = m d^2 products
// (the dense reference), so two computations of it differ by at most about
// 2 gamma_n times the sum of absolute terms (Higham 3.1); for the sizes here
// (n < 10^5) that is < 1e-10 relative to the size of the terms, and we compare
// against 1e-12 * (sizes of the terms) * sqrt-ish slack as stated per check.
// A real defect (a missing sqrt(2), a wrong scale, a transposed index) is an
// O(1) relative error.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/matrix_operator.hpp"
#include "flowsense/problem/noise.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/rank_one_operator.hpp"
#include "oracles.hpp"

using namespace flowsense;
using Catch::Matchers::Contains;
using oracle::Sci;

namespace {

Matrix random_symmetric(Index d, Rng& rng) {
  const Matrix G = rng.normal_matrix(d, d);
  return 0.5 * (G + G.transpose());
}

/// An operator under test with its explicit matrices (unscaled) and scale.
struct Case {
  std::string name;
  std::shared_ptr<const SensingOperator> op;
  std::function<Matrix(Index)> sensing_matrix;
  double s;
};

/// The dense reference: explicit A_i (made one at a time, so large cases
/// need no m d^2 storage), plain sums over all d^2 entries.
struct Dense {
  const Case& c;
  explicit Dense(const Case& c_) : c(c_) {}
  Index m() const { return c.op->measurements(); }
  Vector apply(const Matrix& X, bool absolute = false) const {
    Vector y(m());
    for (Index i = 0; i < m(); ++i) {
      const Matrix A = c.sensing_matrix(i);
      y[i] = c.s * (absolute ? (A.array().abs() * X.array().abs()).sum() : (A.array() * X.array()).sum());
    }
    return y;
  }
  /// s sum |A_i||X|: the size of the terms, the scale of rounding errors.
  Vector apply_abs(const Matrix& X) const { return apply(X, true); }
  Matrix adjoint(const Vector& y, bool absolute = false) const {
    const Index d = c.op->dim();
    Matrix S = Matrix::Zero(d, d);
    for (Index i = 0; i < m(); ++i) {
      const Matrix A = c.sensing_matrix(i);
      if (absolute)
        S += (c.s * std::abs(y[i])) * A.cwiseAbs();
      else
        S += (c.s * y[i]) * A;
    }
    return S;
  }
  Matrix adjoint_abs(const Vector& y) const { return adjoint(y, true); }
};

std::vector<Matrix> random_symmetric_matrices(Index m, Index d, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Matrix> out;
  for (Index i = 0; i < m; ++i) out.push_back(random_symmetric(d, rng));
  return out;
}

NpyArray to_array(const std::vector<Matrix>& matrices) {
  NpyArray a;
  const Index d = matrices.front().rows();
  a.shape = {static_cast<Index>(matrices.size()), d, d};
  for (const Matrix& M : matrices)
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < d; ++j) a.data.push_back(M(i, j));
  return a;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  auto add = [&](std::string name, auto op, auto matrix_of) {
    cases.push_back({std::move(name), op, [op, matrix_of](Index i) { return matrix_of(*op, i); },
                     op->scale_factor()});
  };
  auto rank_one_matrix = [](const RankOneOperator& op, Index i) { return op.sensing_matrix(i); };
  add("rank_one unit", std::make_shared<RankOneOperator>(7, 40, GaussianScale::unit, 11), rank_one_matrix);
  add("rank_one inv_sqrt_m", std::make_shared<RankOneOperator>(7, 40, GaussianScale::inv_sqrt_m, 12),
      rank_one_matrix);
  {
    // More than one row block (block_rows(d) = 65536 / d rows): d = 300, m = 500.
    add("rank_one blocked", std::make_shared<RankOneOperator>(300, 500, GaussianScale::inv_sqrt_m, 13),
        rank_one_matrix);
    Rng rng(14);
    add("rank_one given vectors",
        std::make_shared<RankOneOperator>(RankOneOperator::Vectors(rng.normal_matrix(30, 6)), 0.3), rank_one_matrix);
  }
  auto entry_matrix = [](const EntrySamplingOperator& op, Index i) { return op.sensing_matrix(i); };
  add("entry random unbiased",
      std::make_shared<EntrySamplingOperator>(EntrySamplingOperator::random(8, 0.4, 21)), entry_matrix);
  add("entry random unit",
      std::make_shared<EntrySamplingOperator>(EntrySamplingOperator::random(8, 0.4, 22, EntryScale::unit)),
      entry_matrix);
  add("entry given mask",
      std::make_shared<EntrySamplingOperator>(
          6, std::vector<Entry>{{0, 0}, {0, 3}, {5, 5}, {1, 2}, {2, 4}, {3, 3}, {0, 5}}, EntryScale::unbiased),
      entry_matrix);
  auto packed_matrix = [](const PackedOperator& op, Index i) { return op.sensing_matrix(i); };
  add("matrices in memory", std::make_shared<MatrixOperator>(random_symmetric_matrices(25, 6, 31), 0.7),
      packed_matrix);
  add("matrices from array",
      std::make_shared<MatrixOperator>(
          MatrixOperator::from_array(to_array(random_symmetric_matrices(25, 6, 32)), "A.npy", GaussianScale::inv_sqrt_m)),
      packed_matrix);
  add("gaussian", std::make_shared<GaussianOperator>(6, 25, GaussianScale::inv_sqrt_m, 33), packed_matrix);
  return cases;
}

}  // namespace

TEST_CASE("every operator: adjoint identity, dense reference, factor forms", "[operators]") {
  for (const Case& c : all_cases()) {
    INFO(c.name);
    const SensingOperator& op = *c.op;
    const Index d = op.dim(), m = op.measurements();
    Rng rng(Rng::derive_seed(99, static_cast<std::uint64_t>(m)));
    const Matrix X = random_symmetric(d, rng);
    const Vector y = rng.normal_matrix(m, 1);
    const Dense dense(c);
    const Vector AX_abs = dense.apply_abs(X);
    const Matrix Sy_abs = dense.adjoint_abs(y);
    // Rounding: sums of at most m d^2 terms; 1e-12 relative to the summed
    // absolute terms is about 50 u * (d^2 m)^(1/2) here, above the
    // statistical size of accumulated rounding and far below an O(1) defect.
    const double rel = 1e-12;

    // 1. <A(X), y> = <X, A*(y)>.
    const Vector AX = op(X);
    const Matrix Sy = op.adjoint(y);
    const double lhs = AX.dot(y), rhs = (X.array() * Sy.array()).sum();
    const double scale_terms = AX_abs.dot(y.cwiseAbs());
    CHECK(Sci{std::abs(lhs - rhs)} <= rel * scale_terms);

    // 4. Against the explicit A_i.
    const Vector AX_ref = dense.apply(X);
    CHECK(Sci{(AX - AX_ref).cwiseAbs().maxCoeff()} <= rel * AX_abs.maxCoeff());
    const Matrix Sy_ref = dense.adjoint(y);
    CHECK(Sci{(Sy - Sy_ref).cwiseAbs().maxCoeff()} <= rel * Sy_abs.maxCoeff());
    CHECK((Sy - Sy.transpose()).norm() == 0.0);

    // Only the upper triangle of X is read: garbage below it changes nothing.
    Matrix Xu = X;
    Xu.triangularView<Eigen::StrictlyLower>().setConstant(1e6);
    CHECK(Sci{(op(Xu) - AX).norm()} <= rel * AX_abs.norm());

    // 3. Factor forms against the dense path, for two widths.
    for (Index p : {Index{1}, Index{3}}) {
      INFO("p = " << p);
      const Matrix U = rng.normal_matrix(d, p);
      Vector g;
      op.apply_gram(U, g);
      const Matrix UUt = U * U.transpose();
      CHECK(Sci{(g - op(UUt)).norm()} <= rel * dense.apply_abs(UUt).norm());
      Matrix AU;
      op.adjoint_times(y, U, AU);
      REQUIRE(AU.rows() == d);
      REQUIRE(AU.cols() == p);
      const Matrix AU_ref = Sy_ref * U;
      CHECK(Sci{(AU - AU_ref).norm()} <= rel * (Sy_abs * U.cwiseAbs()).norm());
    }
  }
}

TEST_CASE("every operator: the gradient of G_c against a five-point difference", "[operators]") {
  for (const Case& c : all_cases()) {
    INFO(c.name);
    const Index d = c.op->dim(), p = 3;
    Problem problem = noisy_problem(c.op, planted_trace_one(d, 2, 5), 0.1, 6);
    SensingLoss loss(problem, loss_constant::paper000);
    Rng rng(7);
    const Matrix U = rng.normal_matrix(d, p) / std::sqrt(double(d));
    const Matrix V = rng.normal_matrix(d, p);
    Matrix grad;
    const double G = loss.value_and_gradient(U, grad);
    const double directional = (grad.array() * V.array()).sum();
    const double e = 1e-3;
    const double fd = oracle::five_point_derivative([&](double t) { return loss.value(U + t * V); }, e);
    // The five-point rule is exact for the quartic e -> G(U + eV); what is
    // left is rounding, about 1.5 * 1e-15 * max|G(U + tV)| / e (oracles.hpp).
    const double Gmax = std::max({G, loss.value(U + 2 * e * V), loss.value(U - 2 * e * V)});
    INFO("G = " << G << ", <grad, V> = " << directional << ", fd = " << fd);
    CHECK(Sci{std::abs(fd - directional)} <= 1e-12 * Gmax / e + 1e-12 * std::abs(directional));
  }
}

TEST_CASE("gaussian operator: the refactor onto PackedOperator keeps the documented draw", "[operators]") {
  // Rows are s vech(A_i) with A_i's upper triangle drawn row by row from
  // Rng(seed), i = 0..m-1: the exact numbers every earlier run used.
  const Index d = 5, m = 9;
  for (auto scale : {GaussianScale::unit, GaussianScale::inv_sqrt_m}) {
    GaussianOperator op(d, m, scale, 42);
    const double s = scale == GaussianScale::unit ? 1.0 : 1.0 / 3.0;
    CHECK(op.scale_factor() == measurement_scale(scale, m));
    Rng rng(42);
    Matrix expected(m, packed_size(d));
    for (Index i = 0; i < m; ++i) {
      Index k = 0;
      for (Index a = 0; a < d; ++a)
        for (Index b = a; b < d; ++b) expected(i, k++) = s * (a == b ? 1.0 : std::sqrt(2.0)) * rng.normal();
    }
    CHECK((op.packed_rows() - expected).cwiseAbs().maxCoeff() <= 1e-16);
    const PackedOperator& base = op;
    CHECK(base.name() == "gaussian");
    CHECK(&base.packed_rows() == &op.packed_rows());
  }
  CHECK_THROWS_AS(GaussianOperator(3, Matrix(0, 6), GaussianScale::unit), std::invalid_argument);
}

TEST_CASE("rank-one projections: draw order, scales and E[A*A] = s^2 m (2X + tr(X) I)", "[operators]") {
  RankOneOperator op(4, 6, GaussianScale::inv_sqrt_m, 8);
  Rng rng(8);
  for (Index i = 0; i < 6; ++i)
    for (Index k = 0; k < 4; ++k) CHECK(op.vectors()(i, k) == rng.normal());
  CHECK(op.scale_factor() == 1.0 / std::sqrt(6.0));
  CHECK(RankOneOperator(4, 6, GaussianScale::unit, 8).scale_factor() == 1.0);
  CHECK(op.name() == "rank_one");

  // Isserlis: E[(a^T X a) a a^T] = 2X + tr(X) I for a ~ N(0, I), so with
  // s = 1/sqrt(m), A*A(X) = (1/m) sum_i (a_i^T X a_i) a_i a_i^T -> 2X + tr(X) I.
  // Each entry of A*A(X) is a mean of m iid terms; we estimate their standard
  // deviation from the same terms and allow 6 standard errors per entry
  // (P(|Z| > 6) = 2e-9; 10 entries). Wrong claims are far outside: dropping
  // the tr(X) I term moves the diagonal by tr(X) = 2.5, i.e. ~250 standard errors.
  const Index d = 4, m = 200000;
  RankOneOperator big(d, m, GaussianScale::inv_sqrt_m, 9);
  Matrix X(d, d);
  X << 1.0, 0.5, -0.3, 0.2,  //
      0.5, 2.0, 0.1, 0.0,    //
      -0.3, 0.1, -1.0, 0.4,  //
      0.2, 0.0, 0.4, 0.5;
  const Matrix AAX = big.adjoint(big(X));
  const Matrix expected = 2.0 * X + X.trace() * Matrix::Identity(d, d);
  const auto& V = big.vectors();
  const Vector quad = (V * X).cwiseProduct(V).rowwise().sum();  // a_i^T X a_i
  for (Index j = 0; j < d; ++j)
    for (Index l = j; l < d; ++l) {
      double sum = 0, sum2 = 0;
      for (Index i = 0; i < m; ++i) {
        const double t = quad[i] * V(i, j) * V(i, l);
        sum += t;
        sum2 += t * t;
      }
      const double mean = sum / m, sd = std::sqrt(sum2 / m - mean * mean);
      INFO("entry (" << j << ", " << l << "): A*A(X) = " << AAX(j, l) << ", expected " << expected(j, l)
                     << ", standard error " << sd / std::sqrt(double(m)));
      CHECK(std::abs(mean - AAX(j, l)) <= 1e-10 * (std::abs(mean) + 1));  // the operator is the mean
      CHECK(std::abs(AAX(j, l) - expected(j, l)) <= 6.0 * sd / std::sqrt(double(m)));
    }

  CHECK_THROWS_AS(RankOneOperator(0, 5, GaussianScale::unit, 1), std::invalid_argument);
  CHECK_THROWS_AS(RankOneOperator(3, 0, GaussianScale::unit, 1), std::invalid_argument);
  CHECK_THROWS_AS(RankOneOperator(RankOneOperator::Vectors::Ones(3, 2), -1.0), std::invalid_argument);
  Matrix U(5, 2);
  U.setOnes();
  Vector g;
  CHECK_THROWS_AS(op.apply_gram(U, g), std::invalid_argument);  // d = 4, U has 5 rows
}

TEST_CASE("entry sampling: weights, A*A = P_Omega / q, and full mask = FullObservation", "[operators]") {
  const Index d = 5;
  Rng rng(3);
  const Matrix X = random_symmetric(d, rng);

  // Full mask with the unit scale is exactly full observation.
  std::vector<Entry> all;
  for (Index i = 0; i < d; ++i)
    for (Index j = i; j < d; ++j) all.push_back({i, j});
  EntrySamplingOperator full(d, all, EntryScale::unit);
  FullObservation reference(d);
  CHECK((full(X) - reference(X)).norm() == 0.0);
  CHECK(EntrySamplingOperator(d, all).scale_factor() == 1.0);  // q = |Omega| / D = 1

  // A*A(X) = (1/q) X on Omega and its mirror, 0 elsewhere: diagonal and
  // off-diagonal entries alike (the sqrt(2) of a measurement cancels).
  const auto op = EntrySamplingOperator::random(d, 0.5, 4);
  const double q = op.probability();
  CHECK(q == 0.5);
  CHECK(op.scale_factor() == 1.0 / std::sqrt(0.5));
  Matrix expected = Matrix::Zero(d, d);
  for (const Entry& e : op.mask()) {
    expected(e.i, e.j) = X(e.i, e.j) / q;
    expected(e.j, e.i) = X(e.j, e.i) / q;
  }
  CHECK(Sci{(op.adjoint(op(X)) - expected).cwiseAbs().maxCoeff()} <= 1e-14 * X.cwiseAbs().maxCoeff() / q);
  // The measurement of an off-diagonal entry carries sqrt(2): it is s times
  // the packed coordinate, so ||A(X)||^2 = (1/q) sum over Omega of vech(X)^2.
  for (std::size_t k = 0; k < op.mask().size(); ++k) {
    const Entry& e = op.mask()[k];
    const double w = e.i == e.j ? 1.0 : std::sqrt(2.0);
    CHECK(op(X)[static_cast<Index>(k)] == Approx(w * X(e.i, e.j) / std::sqrt(q)).epsilon(1e-15));
  }
  // A given mask's unbiased scale uses q = |Omega| / D.
  EntrySamplingOperator given(d, {{0, 1}, {2, 2}, {1, 4}});
  CHECK(given.probability() == 3.0 / 15.0);
  CHECK(given.scale_factor() == 1.0 / std::sqrt(0.2));
}

TEST_CASE("entry sampling: E[A*A] = I over random masks (statistical)", "[operators]") {
  // Over N independent masks, entry (j, l) of A*A(X) is X(j,l) delta/q with
  // delta ~ Bernoulli(q), so the mean of N draws has standard error
  // |X(j,l)| sqrt((1 - q)/(q N)). We allow 5 of them per entry:
  // P(|Z| > 5) = 5.7e-7 for each of the D = 21 entries, 1.2e-5 in all.
  // The claim's alternatives fail by far: the raw-entry scaling (no sqrt 2 on
  // measurements, adjoint without 1/sqrt 2) halves or doubles the off-diagonal
  // mean, and s = 1 gives q X; both are > 50 standard errors away at q = 0.3.
  const Index d = 6, N = 4000;
  const double q = 0.3;
  Rng rng(5);
  Matrix X = random_symmetric(d, rng);
  X.array() += 1.0;  // keep entries away from 0 so every entry is tested
  Matrix mean = Matrix::Zero(d, d);
  double norm2 = 0, count = 0;
  int empty = 0;
  for (Index t = 0; t < N; ++t) {
    std::optional<EntrySamplingOperator> op;
    try {
      op.emplace(EntrySamplingOperator::random(d, q, Rng::derive_seed(100, static_cast<std::uint64_t>(t))));
    } catch (const std::invalid_argument&) {
      // An empty draw (probability 0.7^21 = 5.6e-4 per mask) is refused by
      // the library; for the expectation it counts as A = 0.
      ++empty;
      continue;
    }
    const Vector y = (*op)(X);
    mean += op->adjoint(y);
    norm2 += y.squaredNorm();
    count += static_cast<double>(op->measurements());
  }
  CHECK(empty <= 10);  // expected 2.2 empty draws in 4000
  mean /= static_cast<double>(N);
  const double se_factor = std::sqrt((1 - q) / (q * N));
  for (Index j = 0; j < d; ++j)
    for (Index l = j; l < d; ++l) {
      INFO("entry (" << j << ", " << l << "): mean " << mean(j, l) << ", X " << X(j, l));
      CHECK(std::abs(mean(j, l) - X(j, l)) <= 5 * std::abs(X(j, l)) * se_factor);
    }
  // E||A(X)||^2 = ||X||_F^2: the mean of N draws of sum_k vech(X)_k^2 delta_k / q
  // has standard error sqrt((1-q)/(qN) sum_k vech(X)_k^4); 5 of them.
  Vector v;
  pack_symmetric(X, v);
  const double se_norm = std::sqrt((1 - q) / (q * N) * v.array().pow(4).sum());
  CHECK(std::abs(norm2 / N - X.squaredNorm()) <= 5 * se_norm);
  // |Omega| ~ Binomial(D, q) per mask: the mean count over N masks is within
  // 5 sqrt(D q (1-q) / N) of D q.
  const double D = static_cast<double>(packed_size(d));
  CHECK(std::abs(count / N - D * q) <= 5 * std::sqrt(D * q * (1 - q) / N));
}

TEST_CASE("entry sampling: bad masks are named", "[operators]") {
  using V = std::vector<Entry>;
  CHECK_THROWS_WITH(EntrySamplingOperator(4, V{{0, 1}, {2, 1}}), Contains("entry 1 = (2, 1) has i > j"));
  CHECK_THROWS_WITH(EntrySamplingOperator(4, V{{0, 1}, {0, 4}}), Contains("entry 1 = (0, 4) is out of range"));
  CHECK_THROWS_WITH(EntrySamplingOperator(4, V{{0, 1}, {1, 1}, {0, 1}, {1, 1}}),
                    Contains("entry 2 = (0, 1) repeats an earlier entry"));
  CHECK_THROWS_WITH(EntrySamplingOperator(4, V{}), Contains("nonempty"));
  CHECK_THROWS_AS(EntrySamplingOperator::random(4, 0.0, 1), std::invalid_argument);
  CHECK_THROWS_AS(EntrySamplingOperator::random(4, 1.5, 1), std::invalid_argument);
  CHECK_THROWS_WITH(EntrySamplingOperator::random(1, 1e-9, 1), Contains("no entry was drawn"));

  // From arrays: a (d, d) 0/1 matrix or (k, 2) index pairs.
  NpyArray dense;
  dense.shape = {3, 3};
  dense.data = {1, 0, 1, 0, 0, 1, 1, 1, 0};
  CHECK(mask_from_array(dense, 3, "mask.npy") == (V{{0, 0}, {0, 2}, {1, 2}}));
  dense.data[5] = 0;  // [1, 2] = 0 but [2, 1] = 1
  CHECK_THROWS_WITH(mask_from_array(dense, 3, "mask.npy"),
                    Contains("mask.npy") && Contains("not symmetric") && Contains("[1, 2]"));
  dense.data[5] = 0.5;
  CHECK_THROWS_WITH(mask_from_array(dense, 3, "mask.npy"), Contains("[1, 2] = 0.5"));
  NpyArray pairs;
  pairs.shape = {3, 2};
  pairs.data = {0, 2, 1, 1, 2, 1};
  CHECK_THROWS_AS(mask_from_array(pairs, 3, "pairs.npy"), InputError);
  CHECK_THROWS_WITH(mask_from_array(pairs, 3, "pairs.npy"), Contains("pairs.npy") && Contains("entry 2 = (2, 1)"));
  pairs.data = {0, 2, 1, 7};
  pairs.shape = {2, 2};
  CHECK_THROWS_WITH(mask_from_array(pairs, 3, "pairs.npy"), Contains("row 1") && Contains("out of range"));
  pairs.data = {0, 2, 1.5, 2};
  CHECK_THROWS_WITH(mask_from_array(pairs, 3, "pairs.npy"), Contains("integers"));
  pairs.shape = {4};
  pairs.data = {0, 1, 2, 3};
  CHECK_THROWS_WITH(mask_from_array(pairs, 3, "pairs.npy"), Contains("shape (3, 3)") && Contains("got (4,)"));
}

TEST_CASE("user matrices: shape, finiteness and symmetry errors name the file and the index", "[operators]") {
  auto matrices = random_symmetric_matrices(3, 4, 50);
  const NpyArray good = to_array(matrices);
  auto flat = [](Index k, Index i, Index j) { return static_cast<std::size_t>((k * 4 + i) * 4 + j); };

  NpyArray two_d = good;
  two_d.shape = {12, 4};
  CHECK_THROWS_WITH(MatrixOperator::from_array(two_d, "A.npy", GaussianScale::unit),
                    Contains("A.npy") && Contains("3-D array") && Contains("(12, 4)") && Contains("(1, d, d)"));
  NpyArray non_square = good;
  non_square.shape = {3, 8, 2};
  CHECK_THROWS_WITH(MatrixOperator::from_array(non_square, "A.npy", GaussianScale::unit),
                    Contains("square") && Contains("(3, 8, 2)"));

  // Two asymmetries and a NaN: finiteness is checked first, then the first
  // asymmetric pair in NumPy index order [k, i, j], i < j.
  NpyArray bad = good;
  bad.data[flat(2, 1, 3)] += 1e-3;
  bad.data[flat(1, 0, 2)] += 1e-3;
  CHECK_THROWS_WITH(MatrixOperator::from_array(bad, "A.npy", GaussianScale::unit),
                    Contains("A.npy: matrix 1 is not symmetric: A[1, 0, 2]"));
  bad.data[flat(2, 3, 0)] = std::nan("");
  CHECK_THROWS_WITH(MatrixOperator::from_array(bad, "A.npy", GaussianScale::unit),
                    Contains("A.npy: entry A[2, 3, 0] = nan"));
  bad.data[flat(2, 3, 0)] = INFINITY;
  CHECK_THROWS_AS(MatrixOperator::from_array(bad, "A.npy", GaussianScale::unit), InputError);

  // Within the tolerance (1e-12 * max|A_k|): accepted, and the symmetric part stored.
  NpyArray nearly = good;
  const double largest = matrices[1].cwiseAbs().maxCoeff();
  nearly.data[flat(1, 0, 2)] += 0.5e-12 * largest;
  const auto op = MatrixOperator::from_array(nearly, "A.npy", GaussianScale::unit);
  CHECK(std::abs(op.sensing_matrix(1)(0, 2) - (matrices[1](0, 2) + 0.25e-12 * largest)) <= 1e-15 * largest);
  nearly.data[flat(1, 0, 2)] += 1.0e-12 * largest;  // now 1.5e-12: rejected
  CHECK_THROWS_AS(MatrixOperator::from_array(nearly, "A.npy", GaussianScale::unit), InputError);

  // In memory: the same checks as std::invalid_argument.
  matrices[1](2, 3) += 1.0;
  CHECK_THROWS_WITH(MatrixOperator(matrices), Contains("MatrixOperator: matrix 1 is not symmetric: A[1, 2, 3]"));
  std::vector<Matrix> mixed = {Matrix::Identity(3, 3), Matrix::Identity(4, 4)};
  CHECK_THROWS_WITH(MatrixOperator(mixed), Contains("matrix 1 is 4 x 4"));
  CHECK_THROWS_AS(MatrixOperator(std::vector<Matrix>{}), std::invalid_argument);
}

TEST_CASE("user matrices and masks from .npy files", "[operators]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("flowsense_operators_" + std::to_string(Rng::derive_seed(7, 7)));
  fs::create_directories(dir);
  const auto matrices = random_symmetric_matrices(5, 3, 60);
  const NpyArray array = to_array(matrices);
  const std::string good = (dir / "A.npy").string();
  write_npy(good, array.shape, array.data);
  const auto op = MatrixOperator::from_npy(good, GaussianScale::inv_sqrt_m);
  CHECK(op.measurements() == 5);
  CHECK(op.dim() == 3);
  CHECK(op.scale_factor() == 1.0 / std::sqrt(5.0));
  for (Index k = 0; k < 5; ++k) CHECK((op.sensing_matrix(k) - matrices[static_cast<std::size_t>(k)]).norm() <= 1e-15);

  auto expect_error = [&](const std::string& name, const std::vector<Index>& shape, std::vector<double> data,
                          const std::string& text) {
    const std::string path = (dir / name).string();
    write_npy(path, shape, data);
    INFO(name);
    CHECK_THROWS_AS(MatrixOperator::from_npy(path, GaussianScale::unit), InputError);
    CHECK_THROWS_WITH(MatrixOperator::from_npy(path, GaussianScale::unit), Contains(path) && Contains(text));
  };
  expect_error("rank2.npy", {15, 3}, array.data, "3-D array");
  expect_error("nonsquare.npy", {5, 1, 9}, array.data, "square");
  std::vector<double> asym = array.data;
  asym[(3 * 3 + 0) * 3 + 1] += 0.1;  // A[3, 0, 1]
  expect_error("asym.npy", {5, 3, 3}, asym, "A[3, 0, 1]");
  std::vector<double> nan = array.data;
  nan[(4 * 3 + 2) * 3 + 1] = std::nan("");  // A[4, 2, 1]
  expect_error("nan.npy", {5, 3, 3}, nan, "A[4, 2, 1] = nan");
  CHECK_THROWS_AS(MatrixOperator::from_npy((dir / "missing.npy").string(), GaussianScale::unit), InputError);

  const std::string mask_path = (dir / "mask.npy").string();
  write_npy(mask_path, {2, 2}, {0, 2, 1, 1});
  CHECK(read_mask_npy(mask_path, 3) == (std::vector<Entry>{{0, 2}, {1, 1}}));
  fs::remove_all(dir);
}

TEST_CASE("noisy data: b = A(X) + sigma eps, recorded and reproducible", "[operators]") {
  const Index d = 8, m = 20000;
  auto op = std::make_shared<RankOneOperator>(d, m, GaussianScale::inv_sqrt_m, 70);
  const Matrix W = Rng(71).normal_matrix(d, 2);
  const Matrix X = W * W.transpose();
  const double sigma = 0.05;
  const Problem clean = Problem::noiseless(op, X);
  const Problem noisy = noisy_problem(op, X, sigma, 72);
  CHECK(noisy.noise_level == sigma);
  REQUIRE(noisy.noise_seed.has_value());
  CHECK(*noisy.noise_seed == 72u);
  CHECK(clean.noise_level == 0.0);
  CHECK_FALSE(clean.noise_seed.has_value());
  const Vector eps = gaussian_noise(m, 72);
  CHECK(Sci{(noisy.b - clean.b - sigma * eps).norm()} <= 1e-15 * clean.b.norm());
  CHECK(noisy_problem(op, X, sigma, 72).b == noisy.b);  // seeded
  CHECK(noisy_problem(op, X, sigma, 73).b != noisy.b);
  // ||eps||^2 ~ chi^2_m: mean m, standard deviation sqrt(2m); 6 of them.
  CHECK(std::abs(eps.squaredNorm() - double(m)) <= 6 * std::sqrt(2.0 * m));
  // noise_energy regenerates ||sigma eps||^2 without applying A.
  CHECK_THAT(noise_energy(noisy), Catch::Matchers::WithinRel((noisy.b - clean.b).squaredNorm(), 1e-12));
  CHECK(noise_energy(clean) == 0.0);
  // The training error of the truth itself is the noise floor.
  SensingLoss loss(noisy, loss_constant::paper000);
  CHECK_THAT(loss.training_error(W), Catch::Matchers::WithinRel(noise_energy(noisy), 1e-10));

  // Problem from a factor: the same data through apply_gram.
  const Problem from_factor = Problem::noiseless_from_factor(op, W);
  CHECK(Sci{(from_factor.b - clean.b).norm()} <= 1e-13 * clean.b.norm());
  CHECK((from_factor.planted - X).norm() <= 1e-14 * X.norm());

  Problem twice = noisy;
  CHECK_THROWS_WITH(add_noise(twice, 0.1, 1), Contains("already holds noise"));
  Problem p = clean;
  CHECK_THROWS_AS(add_noise(p, -1.0, 1), std::invalid_argument);
  CHECK_THROWS_AS(add_noise(p, NAN, 1), std::invalid_argument);
}

TEST_CASE("noisy data: the right-rank fit sits at the linearized floors, overfitting goes below them",
          "[operators]") {
  // Gaussian A (s = 1/sqrt(m)), d = 12, m = 40, X = W W^T of rank 2, sigma =
  // 1e-3. The rank-2 least-squares fit near W absorbs the part of the noise in
  // the range of J (the Jacobian of U -> A(UU^T) at W, rank k = 23): to first
  // order its training error is ||(I - P_J) sigma eps||^2 and its test error
  // ||W D^T + D W^T||_F^2 with D = J^+ sigma eps. The neglected terms are
  // O(sigma / lambda_2(X)) relative, ~1e-3 here (lambda_2 ~ 0.7); we allow 1%
  // for the training and 5% for the test error (measured: 0.06% and 0.6%).
  const Index d = 12, m = 40, r = 2;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 81);
  const Matrix W = Rng(82).normal_matrix(d, r) / std::sqrt(double(d));
  const Matrix X = W * W.transpose();
  Matrix J(m, d * r);
  for (Index b = 0; b < r; ++b)
    for (Index a = 0; a < d; ++a) {
      Matrix E = Matrix::Zero(d, r);
      E(a, b) = 1.0;
      J.col(b * d + a) = (*op)(Matrix(W * E.transpose() + E * W.transpose()));
    }
  Eigen::CompleteOrthogonalDecomposition<Matrix> cod(J);
  cod.setThreshold(1e-10);
  REQUIRE(cod.rank() == d * r - r * (r - 1) / 2);

  auto fit = [&](const Problem& problem, Matrix U, double t_end) {
    SensingLoss loss(problem, loss_constant::paper003);
    FactorFlow flow(loss);
    IntegrateOptions options;
    options.rtol = 1e-10;
    options.atol = 1e-14;
    const Summary s = integrate(flow, U, log_times(1e-2, t_end, 10), options, Watch{});
    REQUIRE(s.ok());
    return std::pair{loss.training_error(U), (U * U.transpose() - X).squaredNorm()};
  };
  for (double sigma : {1e-3, 1e-2}) {
    INFO("sigma = " << sigma);
    const Problem problem = noisy_problem(op, X, sigma, 83);
    const Vector noise = problem.b - (*op)(X);
    const Vector D = cod.solve(noise);
    const Matrix Dm = Eigen::Map<const Matrix>(D.data(), d, r);
    const double predicted_training = (noise - J * D).squaredNorm();
    const double predicted_test = (W * Dm.transpose() + Dm * W.transpose()).squaredNorm();
    const auto [training, test] = fit(problem, W, 500.0);
    INFO("training " << training << " (predicted " << predicted_training << "), test " << test << " (predicted "
                     << predicted_test << "), noise floor " << noise_energy(problem));
    if (sigma == 1e-3) {
      CHECK_THAT(training, Catch::Matchers::WithinRel(predicted_training, 0.01));
      CHECK_THAT(test, Catch::Matchers::WithinRel(predicted_test, 0.05));
    }
    // Fitting k of the m noise directions puts the training error below the
    // noise floor ||sigma eps||^2 (about sigma^2 (m - k) against sigma^2 m).
    CHECK(training < noise_energy(problem));
    if (sigma == 1e-2) {
      // A d x d factor (D = 78 > m = 40: A(UU^T) = b has PSD solutions) fits
      // more of the noise: lower training error, higher test error.
      const auto [over_training, over_test] = fit(problem, random_factor(d, d, d, 1e-3, 84), 2000.0);
      INFO("p = d: training " << over_training << ", test " << over_test);
      CHECK(over_training < 0.2 * training);
      CHECK(over_test > 2 * test);
    }
  }
}
