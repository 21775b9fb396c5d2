#pragma once
// Packed coordinates of symmetric matrices (DESIGN.md, performance model).
// vech(X) stacks the upper triangle row by row, X(i,i) as is and X(i,j), i<j,
// scaled by sqrt(2), so that <vech(X), vech(Y)> = <X, Y>_F. A symmetric
// operator then is one m x D matrix, D = d(d+1)/2, and its adjoint is the
// transpose followed by unvech.
#include "flowsense/core/types.hpp"

namespace flowsense {

inline Index packed_size(Index d) { return d * (d + 1) / 2; }

/// vech(X) of the symmetric part of X (only the upper triangle is read).
void pack_symmetric(const Matrix& X, Vector& packed);

/// The inverse of pack_symmetric: a full symmetric matrix.
void unpack_symmetric(const Vector& packed, Index d, Matrix& X);

}  // namespace flowsense
