#include "flowsense/problem/rank_one_operator.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {

RankOneOperator::Vectors draw_vectors(Index d, Index m, std::uint64_t seed) {
  if (d < 1) throw std::invalid_argument("RankOneOperator: expected d >= 1, got " + std::to_string(d));
  if (m < 1) throw std::invalid_argument("RankOneOperator: expected m >= 1, got " + std::to_string(m));
  RankOneOperator::Vectors V(m, d);
  Rng rng(seed);
  for (Index i = 0; i < m; ++i)
    for (Index k = 0; k < d; ++k) V(i, k) = rng.normal();
  return V;
}

// Rows of V per block: a block of about 512 KiB (half this machine's L2)
// stays in cache between B = V_blk U and out += V_blk^T (y_blk .* B), so
// adjoint_times reads V from memory once instead of twice. Blocks also keep
// Eigen from packing all of V for one skinny m x d times d x p product,
// which measured 2-3x slower at d = 2000, m = 40000 (bench_operators).
Index block_rows(Index d) { return std::max<Index>(8, (Index{1} << 16) / std::max<Index>(d, 1)); }

void check_cols(const char* what, Index got, Index d) {
  if (got != d)
    throw std::invalid_argument(std::string("RankOneOperator::") + what + ": expected " +
                                std::to_string(d) + " rows, got " + std::to_string(got));
}

}  // namespace

RankOneOperator::RankOneOperator(Index d, Index m, GaussianScale scale, std::uint64_t seed)
    : vectors_(draw_vectors(d, m, seed)), scale_(measurement_scale(scale, m)) {}

RankOneOperator::RankOneOperator(Vectors vectors, double scale)
    : vectors_(std::move(vectors)), scale_(scale) {
  if (vectors_.rows() < 1 || vectors_.cols() < 1)
    throw std::invalid_argument("RankOneOperator: expected an m x d matrix of vectors with m, d >= 1, got " +
                                std::to_string(vectors_.rows()) + " x " + std::to_string(vectors_.cols()));
  if (!vectors_.allFinite())
    throw std::invalid_argument("RankOneOperator: the vectors a_i must be finite");
  if (!(scale_ > 0) || !std::isfinite(scale_))
    throw std::invalid_argument("RankOneOperator: expected a finite scale > 0, got " + std::to_string(scale_));
}

Matrix RankOneOperator::sensing_matrix(Index i) const {
  const Vector a = vectors_.row(i).transpose();
  return a * a.transpose();
}

void RankOneOperator::apply(const Matrix& X, Vector& y) const {
  const Index d = dim(), m = measurements();
  check_cols("apply", X.rows(), d);
  // Only the upper triangle of X is read (the SensingOperator contract).
  const Matrix Xs = X.selfadjointView<Eigen::Upper>();
  y.resize(m);
  const Index nb = block_rows(d);
  Matrix VX;
  for (Index r0 = 0; r0 < m; r0 += nb) {
    const Index n = std::min(nb, m - r0);
    VX.noalias() = vectors_.middleRows(r0, n) * Xs;  // n x d
    y.segment(r0, n) = scale_ * (VX.cwiseProduct(vectors_.middleRows(r0, n))).rowwise().sum();
  }
}

void RankOneOperator::adjoint(const Vector& y, Matrix& S) const {
  if (y.size() != measurements())
    throw std::invalid_argument("RankOneOperator::adjoint: expected y of length " +
                                std::to_string(measurements()) + ", got " + std::to_string(y.size()));
  const Matrix full = vectors_.transpose() * ((scale_ * y).asDiagonal() * vectors_);
  // The product's two triangles may differ in the last bit (different kernel
  // paths); the contract is an exactly symmetric S.
  S = full.selfadjointView<Eigen::Upper>();
}

void RankOneOperator::apply_gram(const Matrix& U, Vector& y) const {
  check_cols("apply_gram", U.rows(), dim());
  const Index m = measurements();
  y.resize(m);
  const Index nb = block_rows(dim());
  Matrix B;
  for (Index r0 = 0; r0 < m; r0 += nb) {
    const Index n = std::min(nb, m - r0);
    B.noalias() = vectors_.middleRows(r0, n) * U;  // B_i = a_i^T U
    y.segment(r0, n) = scale_ * B.rowwise().squaredNorm();
  }
}

void RankOneOperator::adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const {
  const Index d = dim(), m = measurements();
  check_cols("adjoint_times", U.rows(), d);
  if (y.size() != m)
    throw std::invalid_argument("RankOneOperator::adjoint_times: expected y of length " +
                                std::to_string(m) + ", got " + std::to_string(y.size()));
  out.setZero(d, U.cols());
  const Index nb = block_rows(d);
  Matrix B;
  for (Index r0 = 0; r0 < m; r0 += nb) {
    const Index n = std::min(nb, m - r0);
    const auto Vb = vectors_.middleRows(r0, n);
    B.noalias() = Vb * U;                                // n x p
    B = y.segment(r0, n).asDiagonal() * B;               // diag(y_blk) B
    out.noalias() += Vb.transpose() * B;                 // d x p
  }
  out *= scale_;
}

void RankOneOperator::gram_jacobian(const Matrix& U, Matrix& Jr) const {
  const Index d = dim(), p = U.cols();
  check_cols("gram_jacobian", U.rows(), d);
  Matrix B;
  B.noalias() = vectors_ * U;  // B_i = a_i^T U
  Jr.resize(measurements(), d * p);
  for (Index j = 0; j < p; ++j)
    Jr.middleCols(d * j, d).noalias() = (2.0 * scale_) * (B.col(j).asDiagonal() * vectors_);
}

}  // namespace flowsense
