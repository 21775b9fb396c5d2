#include "flowsense/problem/full_observation.hpp"

#include <stdexcept>
#include <string>

#include "flowsense/core/packed.hpp"

namespace flowsense {

FullObservation::FullObservation(Index d) : d_(d) {
  if (d < 1) throw std::invalid_argument("FullObservation: expected d >= 1, got " + std::to_string(d));
}

void FullObservation::apply(const Matrix& X, Vector& y) const { pack_symmetric(X, y); }

void FullObservation::adjoint(const Vector& y, Matrix& S) const { unpack_symmetric(y, d_, S); }

void FullObservation::adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const {
  Matrix S;
  unpack_symmetric(y, d_, S);
  out.noalias() = S * U;
}

}  // namespace flowsense
