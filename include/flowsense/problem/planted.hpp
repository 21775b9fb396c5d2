#pragma once
// Planted low-rank PSD models that know their ground truth.
#include <cstdint>
#include <vector>

#include "flowsense/core/types.hpp"

namespace flowsense {

/// Paper 000, Example 1.1: X = W W^T / tr(W W^T) with W a d x r matrix of iid
/// N(0, 1) from Rng(seed): rank r, PSD, trace 1.
Matrix planted_trace_one(Index d, Index r, std::uint64_t seed);

/// Paper 003, Section 6: Z* = X X^T where X = Q diag(sqrt(eigenvalues)) has
/// orthogonal columns (Q: the orthonormal factor of a d x r Gaussian matrix
/// from Rng(seed)), so the nonzero eigenvalues of Z* are exactly `eigenvalues`.
Matrix planted_orthogonal(Index d, const std::vector<double>& eigenvalues, std::uint64_t seed);

/// A d x p initialization of rank r and Frobenius norm `norm`:
/// U0 = norm * G H^T / ||G H^T||_F with G (d x r), H (p x r) iid N(0, 1) from
/// Rng(seed). For r = p this is a generic full-rank matrix.
Matrix random_factor(Index d, Index p, Index r, double norm, std::uint64_t seed);

}  // namespace flowsense
