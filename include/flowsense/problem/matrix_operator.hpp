#pragma once
// User-supplied sensing matrices: A(X)_i = s <A_i, X> for given symmetric
// d x d matrices A_1..A_m, e.g. an (m, d, d) NumPy array saved with
// numpy.save. Stored packed like the Gaussian ensemble (packed_operator.hpp),
// so A(X) and A*(y) are one matrix-vector product each (8 m d(d+1)/2 bytes).
//
// Checks, in this order, each naming the first offending index as the NumPy
// index [k, i, j] (matrix k, row i, column j, counting from 0):
//  1. shape: a 3-D array (m, d, d) with m, d >= 1 (one matrix: shape (1, d, d));
//  2. finiteness: no NaN or infinity;
//  3. symmetry: |A[k,i,j] - A[k,j,i]| <= 1e-12 * max_{i,j} |A[k,i,j]| for
//     every i < j: a relative tolerance per matrix, about 10^4 units of
//     rounding of its largest entry, enough for matrices symmetrized in
//     floating point (B + B^T)/2 or computed as products, far below any
//     genuine asymmetry. The stored matrix is the symmetric part (A + A^T)/2.
// Bad arrays from files throw InputError(file, ...); bad in-memory
// arguments throw std::invalid_argument with the same message.
#include <string>
#include <vector>

#include "flowsense/io/npy.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/packed_operator.hpp"

namespace flowsense {

class MatrixOperator : public PackedOperator {
public:
  /// The relative symmetry tolerance (see above).
  static constexpr double symmetry_tolerance = 1e-12;

  /// From matrices in memory, with a finite scale s > 0.
  explicit MatrixOperator(const std::vector<Matrix>& matrices, double scale = 1.0);

  /// From a row-major (m, d, d) array; `source` names it in errors.
  /// `symmetry_tol` replaces the relative tolerance 1e-12 of check 3 (>= 0).
  static MatrixOperator from_array(const NpyArray& array, const std::string& source, GaussianScale scale,
                                   double symmetry_tol = symmetry_tolerance);
  /// read_npy(path), then from_array(array, path, scale, symmetry_tol).
  static MatrixOperator from_npy(const std::string& path, GaussianScale scale,
                                 double symmetry_tol = symmetry_tolerance);

  std::string name() const override { return "matrices"; }
  // sensing_matrix(i) (the symmetric part of the given A_i), packed_rows(),
  // scale_factor(), apply() and adjoint() come from PackedOperator.

private:
  MatrixOperator(Index d, Matrix&& rows, double scale);
};

}  // namespace flowsense
