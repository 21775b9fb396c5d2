#include "flowsense/problem/gaussian_operator.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {
double scale_of(GaussianScale scale, Index m) {
  return scale == GaussianScale::unit ? 1.0 : 1.0 / std::sqrt(static_cast<double>(m));
}
}  // namespace

GaussianOperator::GaussianOperator(Index d, Index m, GaussianScale scale, std::uint64_t seed)
    : d_(d), scale_(scale) {
  if (d < 1) throw std::invalid_argument("GaussianOperator: expected d >= 1, got " + std::to_string(d));
  if (m < 1) throw std::invalid_argument("GaussianOperator: expected m >= 1, got " + std::to_string(m));
  const Index D = packed_size(d);
  rows_.resize(m, D);
  Rng rng(seed);
  const double s = scale_of(scale, m);
  const double sqrt2 = std::sqrt(2.0);
  // A_i's upper triangle row by row: diagonal entries enter vech as is,
  // off-diagonal ones scaled by sqrt(2) (core/packed.hpp).
  for (Index i = 0; i < m; ++i) {
    Index k = 0;
    for (Index a = 0; a < d; ++a)
      for (Index b = a; b < d; ++b) rows_(i, k++) = s * (a == b ? 1.0 : sqrt2) * rng.normal();
  }
}

GaussianOperator::GaussianOperator(Index d, Matrix packed_rows, GaussianScale scale)
    : d_(d), scale_(scale), rows_(std::move(packed_rows)) {
  if (rows_.cols() != packed_size(d))
    throw std::invalid_argument("GaussianOperator: expected " + std::to_string(packed_size(d)) +
                                " packed columns for d = " + std::to_string(d) + ", got " +
                                std::to_string(rows_.cols()));
}

double GaussianOperator::scale_factor() const { return scale_of(scale_, rows_.rows()); }

void GaussianOperator::apply(const Matrix& X, Vector& y) const {
  Vector packed;
  pack_symmetric(X, packed);
  y.noalias() = rows_ * packed;
}

void GaussianOperator::adjoint(const Vector& y, Matrix& S) const {
  Vector packed;
  packed.noalias() = rows_.transpose() * y;
  unpack_symmetric(packed, d_, S);
}

Matrix GaussianOperator::sensing_matrix(Index i) const {
  Matrix A;
  unpack_symmetric(rows_.row(i).transpose() / scale_factor(), d_, A);
  return A;
}

}  // namespace flowsense
