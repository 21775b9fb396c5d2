#pragma once
// Entry sampling: symmetric matrix completion (paper 000, ref. [39], where no
// restricted isometry holds). A mask Omega is a list of upper-triangular
// entries (i, j), i <= j, and measurement k observes entry (i_k, j_k):
//
//   A(X)_k = s * w_k * X(i_k, j_k),   w_k = 1 (i = j) or sqrt(2) (i < j),
//
// i.e. s times packed coordinate (i_k, j_k) of X (core/packed.hpp). The
// adjoint puts s y_k back on the diagonal, or s y_k / sqrt(2) on both
// (i, j) and (j, i), so A*A(X) = s^2 * (X on Omega and its mirror, 0 elsewhere).
//
// Why these weights and this scale. In packed coordinates full observation is
// the identity on R^D (full_observation.hpp) and A = s P_Omega selects
// coordinates, so A*A = s^2 diag(delta) with delta_k = 1 on Omega. If every
// upper-triangular entry is observed independently with probability q,
// E[delta_k] = q and
//
//   E[A*A] = s^2 q I  =  I   for   s = 1/sqrt(q)   (EntryScale::unbiased),
//
// equivalently E||A(X)||^2 = ||X||_F^2. Diagonal and off-diagonal entries are
// sampled with the same q and both get the factor 1/q in A*A; the sqrt(2) on
// an off-diagonal *measurement* is there because observing X(i,j) observes
// two entries of the symmetric matrix, X(i,j) and X(j,i), whose share of
// ||X||_F^2 is 2 X(i,j)^2. (Scaling raw entries X(i,j) by 1/sqrt(q) instead
// would make E[A*A] halve the off-diagonal part.) EntryScale::unit (s = 1)
// keeps the plain packed coordinates: with the full mask it is exactly
// FullObservation.
//
// Factor forms in O(|Omega| p): y_k = s w_k <U_i, U_j> (rows of U), and
// A*(y) U adds s y_k / sqrt(2) U_j to row i and U_i to row j.
#include <cstdint>
#include <string>
#include <vector>

#include "flowsense/io/npy.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

/// An observed upper-triangular entry, 0 <= i <= j < d.
struct Entry {
  Index i = 0;
  Index j = 0;
  friend bool operator==(const Entry&, const Entry&) = default;
};

enum class EntryScale {
  unbiased,  ///< s = 1/sqrt(q): E[A*A] = I over random masks (q: see below)
  unit,      ///< s = 1: plain packed coordinates
};

class EntrySamplingOperator : public SensingOperator {
public:
  /// A given mask; measurement k observes mask[k]. The unbiased scale uses
  /// q = |mask| / D, the rate of a uniformly random mask of this size.
  /// Throws std::invalid_argument naming the first entry that is out of
  /// range, has i > j, or repeats an earlier one, or if the mask is empty.
  EntrySamplingOperator(Index d, std::vector<Entry> mask, EntryScale scale = EntryScale::unbiased);

  /// Each upper-triangular entry (in packed order: row i, then j = i..d-1)
  /// observed independently with probability q in (0, 1], drawn from
  /// Rng(seed). The unbiased scale uses this q (not the realized rate), so
  /// E[A*A] = I holds exactly. Throws std::invalid_argument if q is outside
  /// (0, 1] or no entry was drawn.
  static EntrySamplingOperator random(Index d, double q, std::uint64_t seed,
                                      EntryScale scale = EntryScale::unbiased);

  /// Exactly `count` distinct upper-triangular entries, every subset of that
  /// size equally likely (selection sampling over the packed order, from
  /// Rng(seed)); the mask comes out in packed order. Each entry is then
  /// observed with probability q = count / D, which the unbiased scale uses,
  /// so E[A*A] = I holds exactly here too. Throws std::invalid_argument
  /// unless 1 <= count <= D = d(d+1)/2.
  static EntrySamplingOperator random_count(Index d, Index count, std::uint64_t seed,
                                            EntryScale scale = EntryScale::unbiased);

  Index dim() const override { return d_; }
  Index measurements() const override { return static_cast<Index>(mask_.size()); }
  std::string name() const override { return "entry_sampling"; }

  const std::vector<Entry>& mask() const { return mask_; }
  EntryScale scale() const { return scale_; }
  /// The sampling rate q behind the unbiased scale (see the constructors).
  double probability() const { return q_; }
  /// s: 1/sqrt(q) or 1.
  double scale_factor() const { return s_; }
  /// A_k (unscaled, d x d): e_i e_i^T, or (e_i e_j^T + e_j e_i^T)/sqrt(2)
  /// for i < j (unit Frobenius norm, so A(X)_k = s <A_k, X>).
  Matrix sensing_matrix(Index k) const;

  void apply(const Matrix& X, Vector& y) const override;
  void adjoint(const Vector& y, Matrix& S) const override;
  using SensingOperator::adjoint;  // keep the allocating adjoint(y)
  void apply_gram(const Matrix& U, Vector& y) const override;
  void adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const override;
  /// Row k of Jr = 2 s vec(A_k U) has p nonzeros (i = j: 2 s U(i, :) at
  /// row i) or 2p (i < j: sqrt(2) s U(j, :) at row i, sqrt(2) s U(i, :) at
  /// row j): O(m p) plus zeroing the m x d p output.
  void gram_jacobian(const Matrix& U, Matrix& Jr) const override;

private:
  EntrySamplingOperator(Index d, std::vector<Entry> mask, EntryScale scale, double q);

  Index d_;
  std::vector<Entry> mask_;
  EntryScale scale_;
  double q_, s_;
};

/// A mask from a NumPy array, for user input (`source` names the file or
/// field in errors, which are InputError):
///  - shape (d, d): a symmetric 0/1 matrix; entries (i, j), i <= j, with a 1
///    are observed, in packed order. (For d = 2 a (2, 2) array is read this way.)
///  - shape (k, 2): k index pairs (i, j) with 0 <= i <= j < d, integers, no repeats.
std::vector<Entry> mask_from_array(const NpyArray& array, Index d, const std::string& source);

/// read_npy(path) then mask_from_array.
std::vector<Entry> read_mask_npy(const std::string& path, Index d);

}  // namespace flowsense
