#pragma once
// The orthogonal Procrustes distance (paper 003, Definition 5.1; paper 000,
// Lemma F.1 (53)):
//
//   dist(U1, U2) = min { ||U1 - U2 R||_F : R orthogonal }
//                = sqrt(||U1||_F^2 + ||U2||_F^2 - 2 ||U1^T U2||_*).
//
// The minimizer: with the SVD U2^T U1 = W Sigma V^T, R = W V^T, because
// ||U1 - U2 R||^2 = ||U1||^2 + ||U2||^2 - 2 tr(R^T U2^T U1) and
// tr(R^T W Sigma V^T) <= tr(Sigma) = ||U2^T U1||_*, with equality at R = W V^T.
//
// Factors of different widths p1 != p2 are compared after padding the
// narrower one with zero columns to q = max(p1, p2) (then U U^T is unchanged,
// and R is q x q). The distance is returned as ||U1 - U2 R||_F evaluated
// directly (no cancellation for nearby factors); the nuclear-norm form is
// kept for tests and for paper 000's notation.
//
// A pure linear-algebra kernel on core/ types: observe/theory_metrics uses it
// without depending on anything right of observe.
#include "flowsense/core/types.hpp"

namespace flowsense {

struct Procrustes {
  double distance = 0.0;  ///< min_R ||U1 - U2 R||_F
  Matrix rotation;        ///< the optimal R, q x q orthogonal, q = max(p1, p2)
};

/// dist(U1, U2) with its optimal rotation; U1 and U2 must have the same
/// number of rows (std::invalid_argument otherwise).
Procrustes procrustes(const Matrix& U1, const Matrix& U2);

/// dist(U1, U2) only.
double procrustes_distance(const Matrix& U1, const Matrix& U2);

/// sqrt(max(||U1||^2 + ||U2||^2 - 2||U1^T U2||_*, 0)), (53) (zero-padded).
double procrustes_distance_nuclear(const Matrix& U1, const Matrix& U2);

/// U with zero columns appended to width q >= U.cols().
Matrix pad_columns(const Matrix& U, Index q);

}  // namespace flowsense
