#pragma once
// The symmetric Gaussian sensing operator of both papers: the upper-triangular
// entries of each A_i are iid N(0, 1), mirrored below the diagonal
// (paper 000, Example 1.1), and A(X)_i = s <A_i, X> with s = 1 (paper 000) or
// s = 1/sqrt(m) (paper 003, where E||A(X)||^2 = ||X||_F^2 up to the diagonal).
//
// Stored once as an m x D matrix on packed coordinates (core/packed.hpp), so
// A(X) and A*(y) are one matrix-vector product each and the hot path never
// loops over m separate d x d matrices.
#include <cstdint>

#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

enum class GaussianScale {
  unit,        ///< s = 1, paper 000
  inv_sqrt_m,  ///< s = 1/sqrt(m), paper 003
};

class GaussianOperator : public SensingOperator {
public:
  /// Draws A_1..A_m from Rng(seed): for i = 1..m, the upper triangle of A_i
  /// row by row. Throws std::invalid_argument if d < 1 or m < 1.
  GaussianOperator(Index d, Index m, GaussianScale scale, std::uint64_t seed);

  /// From a given packed matrix (rows = vech(A_i) * s, already scaled).
  GaussianOperator(Index d, Matrix packed_rows, GaussianScale scale);

  Index dim() const override { return d_; }
  Index measurements() const override { return rows_.rows(); }
  std::string name() const override { return "gaussian"; }
  GaussianScale scale() const { return scale_; }
  double scale_factor() const;

  void apply(const Matrix& X, Vector& y) const override;
  void adjoint(const Vector& y, Matrix& S) const override;

  /// The m x D matrix whose i-th row is s vech(A_i).
  const Matrix& packed_rows() const { return rows_; }
  /// The i-th sensing matrix A_i (unscaled, d x d), for references and tests.
  Matrix sensing_matrix(Index i) const;

private:
  Index d_;
  GaussianScale scale_;
  Matrix rows_;
};

}  // namespace flowsense
