#include "flowsense/problem/packed_operator.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "flowsense/core/packed.hpp"

namespace flowsense {

PackedOperator::PackedOperator(const char* who, Index d, Matrix&& rows, double scale)
    : d_(d), scale_(scale), rows_(std::move(rows)) {
  if (rows_.cols() != packed_size(d))
    throw std::invalid_argument(std::string(who) + ": expected " + std::to_string(packed_size(d)) +
                                " packed columns for d = " + std::to_string(d) + ", got " +
                                std::to_string(rows_.cols()));
  if (!(scale_ > 0) || !std::isfinite(scale_))
    throw std::invalid_argument(std::string(who) + ": expected a finite scale > 0, got " +
                                std::to_string(scale_));
}

void PackedOperator::apply(const Matrix& X, Vector& y) const {
  Vector packed;
  pack_symmetric(X, packed);
  y.noalias() = rows_ * packed;
}

void PackedOperator::adjoint(const Vector& y, Matrix& S) const {
  Vector packed;
  packed.noalias() = rows_.transpose() * y;
  unpack_symmetric(packed, d_, S);
}

void PackedOperator::gram_jacobian(const Matrix& U, Matrix& Jr) const {
  const Index d = d_, p = U.cols(), m = measurements();
  if (U.rows() != d)
    throw std::invalid_argument("PackedOperator::gram_jacobian: expected a factor with d = " +
                                std::to_string(d) + " rows, got " + std::to_string(U.rows()));
  Jr.resize(m, d * p);
  // Rows i0..i0+n-1 of Jr, as the n x (d p) matrix it is in memory, equal
  // the (n d) x p product B U with B((i - i0) + n a, b) = 2 s A_i(a, b):
  // element (i + n a, j) sits at i + n (a + d j), i.e. Jr(i, a + d j) =
  // 2 sum_b s A_i(a, b) U(b, j). Row i of M holds s A_i(a, a) and
  // sqrt(2) s A_i(a, b), a < b (core/packed.hpp), so column (a, b) of M
  // enters B twice for a < b, scaled by 2 / sqrt(2).
  const Index block = std::max<Index>(8, (Index{1} << 18) / std::max<Index>(d * d, 1));
  const double off = std::sqrt(2.0);
  Matrix B, G;
  for (Index i0 = 0; i0 < m; i0 += block) {
    const Index n = std::min(block, m - i0);
    B.resize(n * d, d);
    Index k = 0;
    for (Index a = 0; a < d; ++a) {
      B.col(a).segment(n * a, n) = 2.0 * rows_.col(k++).segment(i0, n);
      for (Index b = a + 1; b < d; ++b, ++k) {
        const auto column = rows_.col(k).segment(i0, n);
        B.col(b).segment(n * a, n) = off * column;
        B.col(a).segment(n * b, n) = off * column;
      }
    }
    G.noalias() = B * U;
    Jr.middleRows(i0, n) = Eigen::Map<const Matrix>(G.data(), n, d * p);
  }
}

Matrix PackedOperator::sensing_matrix(Index i) const {
  Matrix A;
  unpack_symmetric(rows_.row(i).transpose() / scale_, d_, A);
  return A;
}

}  // namespace flowsense
