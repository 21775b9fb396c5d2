#pragma once
// Rank-one projections (paper 000, ref. [14]): A_i = a_i a_i^T with
// a_i ~ N(0, I_d), and
//
//   A(X)_i   = s a_i^T X a_i,            A(U U^T)_i = s ||U^T a_i||^2,
//   A*(y)    = s sum_i y_i a_i a_i^T,    A*(y) U    = s sum_i y_i a_i (a_i^T U).
//
// Stored as the m x d matrix V whose i-th row is a_i^T (8 m d bytes: 640 MB
// at d = 2000, m = 40000, against 80 d^3 = 640 GB for the dense Gaussian).
// The factor forms the flow calls on every right-hand side never form a
// d x d matrix:
//
//   apply_gram:    B = V U (m x p),  y_i = s ||B_i||^2              2 m d p flops
//   adjoint_times: B = V U,          out = s V^T (diag(y) B)        4 m d p flops
//
// adjoint_times streams V once in row blocks that stay in cache between the
// two products, so a right-hand side reads the 8 m d bytes of V twice
// (once in apply_gram, once here): O(m d p) time, O(m p + d p) scratch.
//
// Scale. E[a a^T X a a^T] = 2X + tr(X) I for a ~ N(0, I) (Isserlis), so
//   E[A*A](X) = s^2 m (2X + tr(X) I):
// s = 1 (GaussianScale::unit, paper 000's convention) gives m(2X + tr(X) I);
// s = 1/sqrt(m) (GaussianScale::inv_sqrt_m) gives 2X + tr(X) I, whose
// eigenvalues on Sym(d) are 2 (on trace-free X) and d + 2 (on X = I). On a
// matrix S of rank <= k, E||A(S)||^2 = 2||S||_F^2 + tr(S)^2 lies between
// 2||S||_F^2 and (2 + k)||S||_F^2 (tr(S)^2 <= k ||S||_F^2): unlike the
// Gaussian ensemble, rank-one projections are not near-isometric on low-rank
// matrices in the l2 sense (the trace is over-weighted), which is why paper
// [14] works with an l1 restricted isometry instead. The factor flow only
// meets directions U V^T + V U^T of rank <= 2p, so its stiffness grows with
// p, not with d (docs/operators.md).
#include <cstdint>

#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

class RankOneOperator : public SensingOperator {
public:
  /// Row-major, so that a block of consecutive a_i is contiguous in memory.
  using Vectors = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  /// Draws a_1..a_m from Rng(seed): a_i's d entries one after another, for
  /// i = 1..m. s = 1 or 1/sqrt(m). Throws std::invalid_argument if d < 1 or m < 1.
  RankOneOperator(Index d, Index m, GaussianScale scale, std::uint64_t seed);

  /// From given vectors: row i of `vectors` (m x d) is a_i^T; any finite
  /// s > 0. Throws std::invalid_argument on an empty or non-finite input.
  RankOneOperator(Vectors vectors, double scale);

  Index dim() const override { return vectors_.cols(); }
  Index measurements() const override { return vectors_.rows(); }
  std::string name() const override { return "rank_one"; }
  double scale_factor() const { return scale_; }
  /// The m x d matrix whose rows are a_i^T (unscaled).
  const Vectors& vectors() const { return vectors_; }
  /// A_i = a_i a_i^T (unscaled, d x d), for references and tests.
  Matrix sensing_matrix(Index i) const;

  /// y_i = s a_i^T X a_i: O(m d^2) time, O(d) scratch per row block.
  void apply(const Matrix& X, Vector& y) const override;
  /// S = s V^T diag(y) V: O(m d^2), a d x d result.
  void adjoint(const Vector& y, Matrix& S) const override;
  using SensingOperator::adjoint;  // keep the allocating adjoint(y)
  /// y_i = s ||U^T a_i||^2 in O(m d p), no d x d matrix.
  void apply_gram(const Matrix& U, Vector& y) const override;
  /// out = s sum_i y_i a_i (a_i^T U) in O(m d p), no d x d matrix.
  void adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const override;
  /// Jr(i, a + d j) = 2 s a_i(a) (a_i^T U)_j, since A_i U = a_i (a_i^T U):
  /// O(m d p), no d x d matrix.
  void gram_jacobian(const Matrix& U, Matrix& Jr) const override;

private:
  Vectors vectors_;
  double scale_;
};

}  // namespace flowsense
