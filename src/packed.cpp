#include "flowsense/core/packed.hpp"

#include <cmath>

namespace flowsense {

namespace {
const double sqrt2 = std::sqrt(2.0);
const double inv_sqrt2 = 1.0 / std::sqrt(2.0);
}  // namespace

void pack_symmetric(const Matrix& X, Vector& packed) {
  const Index d = X.rows();
  packed.resize(packed_size(d));
  Index k = 0;
  for (Index i = 0; i < d; ++i) {
    packed[k++] = X(i, i);
    for (Index j = i + 1; j < d; ++j) packed[k++] = sqrt2 * X(i, j);
  }
}

void unpack_symmetric(const Vector& packed, Index d, Matrix& X) {
  X.resize(d, d);
  Index k = 0;
  for (Index i = 0; i < d; ++i) {
    X(i, i) = packed[k++];
    for (Index j = i + 1; j < d; ++j) {
      const double v = inv_sqrt2 * packed[k++];
      X(i, j) = v;
      X(j, i) = v;
    }
  }
}

}  // namespace flowsense
