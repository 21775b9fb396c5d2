#include "flowsense/problem/gaussian_operator.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"

namespace flowsense {

double measurement_scale(GaussianScale scale, Index m) {
  return scale == GaussianScale::unit ? 1.0 : 1.0 / std::sqrt(static_cast<double>(m));
}

namespace {

Matrix draw_rows(Index d, Index m, GaussianScale scale, std::uint64_t seed) {
  if (d < 1) throw std::invalid_argument("GaussianOperator: expected d >= 1, got " + std::to_string(d));
  if (m < 1) throw std::invalid_argument("GaussianOperator: expected m >= 1, got " + std::to_string(m));
  const Index D = packed_size(d);
  Matrix rows(m, D);
  Rng rng(seed);
  const double s = measurement_scale(scale, m);
  const double sqrt2 = std::sqrt(2.0);
  // A_i's upper triangle row by row: diagonal entries enter vech as is,
  // off-diagonal ones scaled by sqrt(2) (core/packed.hpp).
  for (Index i = 0; i < m; ++i) {
    Index k = 0;
    for (Index a = 0; a < d; ++a)
      for (Index b = a; b < d; ++b) rows(i, k++) = s * (a == b ? 1.0 : sqrt2) * rng.normal();
  }
  return rows;
}

Index checked_rows(const Matrix& rows) {
  if (rows.rows() < 1)
    throw std::invalid_argument("GaussianOperator: expected m >= 1 packed rows, got " +
                                std::to_string(rows.rows()));
  return rows.rows();
}

}  // namespace

GaussianOperator::GaussianOperator(Index d, Index m, GaussianScale scale, std::uint64_t seed)
    : PackedOperator("GaussianOperator", d, draw_rows(d, m, scale, seed), measurement_scale(scale, m)),
      scale_(scale) {}

GaussianOperator::GaussianOperator(Index d, Matrix packed_rows, GaussianScale scale)
    : PackedOperator("GaussianOperator", d, std::move(packed_rows),
                     measurement_scale(scale, checked_rows(packed_rows))),
      scale_(scale) {}

}  // namespace flowsense
