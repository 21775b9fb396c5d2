#pragma once
// The symmetric Gaussian sensing operator of both papers: the upper-triangular
// entries of each A_i are iid N(0, 1), mirrored below the diagonal
// (paper 000, Example 1.1), and A(X)_i = s <A_i, X> with s = 1 (paper 000) or
// s = 1/sqrt(m) (paper 003, where E||A(X)||^2 = ||X||_F^2 up to the diagonal).
//
// Stored once as an m x D matrix on packed coordinates (core/packed.hpp,
// problem/packed_operator.hpp), so A(X) and A*(y) are one matrix-vector
// product each and the hot path never loops over m separate d x d matrices.
#include <cstdint>

#include "flowsense/problem/packed_operator.hpp"

namespace flowsense {

enum class GaussianScale {
  unit,        ///< s = 1, paper 000
  inv_sqrt_m,  ///< s = 1/sqrt(m), paper 003
};

/// The number s of a scale choice for m measurements: 1 or 1/sqrt(m).
/// The other operators (rank_one_operator.hpp, matrix_operator.hpp) offer
/// the same two choices.
double measurement_scale(GaussianScale scale, Index m);

class GaussianOperator : public PackedOperator {
public:
  /// Draws A_1..A_m from Rng(seed): for i = 1..m, the upper triangle of A_i
  /// row by row. Throws std::invalid_argument if d < 1 or m < 1.
  GaussianOperator(Index d, Index m, GaussianScale scale, std::uint64_t seed);

  /// From a given packed matrix (rows = vech(A_i) * s, already scaled).
  /// Throws std::invalid_argument if it has no rows or not D(d) columns.
  GaussianOperator(Index d, Matrix packed_rows, GaussianScale scale);

  std::string name() const override { return "gaussian"; }
  GaussianScale scale() const { return scale_; }
  // dim(), measurements(), apply(), adjoint(), packed_rows(), scale_factor()
  // and sensing_matrix(i) come from PackedOperator.

private:
  GaussianScale scale_;
};

}  // namespace flowsense
