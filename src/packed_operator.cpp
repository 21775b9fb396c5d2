#include "flowsense/problem/packed_operator.hpp"

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

Matrix PackedOperator::sensing_matrix(Index i) const {
  Matrix A;
  unpack_symmetric(rows_.row(i).transpose() / scale_, d_, A);
  return A;
}

}  // namespace flowsense
