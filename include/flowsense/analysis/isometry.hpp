#pragma once
// Estimates of the restricted isometry of A on symmetric matrices of rank <= k:
//
//   q(X) = ||A(X)||_2^2 / ||X||_F^2,   q_min(k) = min q,  q_max(k) = max q
//   over symmetric X != 0 with rank(X) <= k.
//
// Paper 000, Assumption 3.1(iii):  alpha = sqrt(q_min(2 rank(U0)))  (the
//   isometry constant; the proof applies it in (42) to U_t U_t^T - X_l, which
//   is symmetric but indefinite, so we search over symmetric X, not PSD only).
// Paper 003, Definition 3.2:  A is (delta, k)-RIP iff
//   1 - delta <= q_min(k) and q_max(k) <= 1 + delta; the smallest such delta
//   is delta_k = max(1 - q_min(k), q_max(k) - 1). (Non-symmetric Z need not be
//   searched: A(Z) = A(sym Z) kills the skew part, so over all of R^{d x d}
//   q_min = 0 trivially; 003 applies RIP to symmetric matrices.)
//
// WHICH SIDE EACH ESTIMATE IS ON. Computing q_min/q_max over the rank-k
// variety is NP-hard in general; we optimize from many starts and report the
// extreme values *attained at explicit witnesses* X (returned). Every witness
// is feasible, so
//   min_ratio >= q_min(k)  =>  alpha_upper = sqrt(min_ratio) >= alpha  (an UPPER bound on alpha),
//   max_ratio <= q_max(k)  =>  rip_delta_lower <= delta_k            (a LOWER bound on delta),
// i.e. inner estimates of the true extremes: the operator is at least this bad.
// A rigorous outer bound (alpha lower / delta upper) would need a covering
// argument and is not attempted. Cheap outer checks that hold always:
// q_min(k) >= lambda_min(A*A) (unrestricted) and q_max(k) <= ||A||^2.
//
// The search (per start), in two phases:
//  1. projected gradient on the unit sphere of rank-<=k symmetric matrices:
//     X <- P_k(X -+ eta grad q) / ||.||_F with grad q = 2 (A*A(X) - q X) and
//     P_k the truncation to the k largest |eigenvalues| (one apply and one
//     adjoint per step), eta adapted so that every accepted step improves q;
//  2. for small cores (k(k+1)/2 <= core_limit) the exact best core on the
//     final subspace W: X = W S W^T with S the extreme eigenvector of the
//     k(k+1)/2-dimensional form S -> ||A(W S W^T)||^2; for k(k+1)/2 <=
//     polish_limit also Riemannian gradient steps on the Grassmannian (the
//     value depends on span(W) only; its gradient is 4 (A*A(X)) W S projected
//     to (I - WW^T)) with Armijo backtracking.
// Starts: random (random subspace and core), the bottom/top eigenvectors of
// the normal operator A*A truncated to rank k, and any user-given matrices
// (e.g. U U^T - X♮ along a run).
#include <cstdint>
#include <string>
#include <vector>

#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

struct IsometryOptions {
  int random_starts = 8;        ///< random starts per search direction (>= 0)
  int spectral_starts = 2;      ///< starts from eigenvectors of A*A (>= 0)
  /// Projected-gradient iterations per start (>= 1); at most 40 when the
  /// Grassmann polish follows (k(k+1)/2 <= polish_limit).
  int max_iterations = 400;
  double tol = 1e-10;           ///< stop when the relative improvement per iteration is below tol
  std::uint64_t seed = 0;
  EigenOptions eigen;           ///< for the spectral starts
  Index core_limit = 66;        ///< exact core step when k(k+1)/2 <= core_limit (k <= 11)
  Index polish_limit = 15;      ///< Grassmann polish when k(k+1)/2 <= polish_limit (k <= 5)
  int polish_iterations = 60;   ///< Grassmann polish iterations per start (>= 0)

  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

struct IsometryEstimate {
  Index rank_bound = 0;          ///< k
  double min_ratio = 0.0;        ///< smallest q found (>= q_min(k))
  double max_ratio = 0.0;        ///< largest q found (<= q_max(k))
  double alpha_upper = 0.0;      ///< sqrt(min_ratio): an upper bound on alpha_k (000 Ass. 3.1(iii))
  double rip_delta_lower = 0.0;  ///< max(1 - min_ratio, max_ratio - 1): a lower bound on delta_k (003 Def. 3.2)
  Matrix argmin;                 ///< symmetric, unit Frobenius norm, rank <= k, q(argmin) = min_ratio
  Matrix argmax;                 ///< likewise for max_ratio
  int starts = 0;                ///< starts per direction
  std::string message;
};

/// q(X) = ||A(X)||^2 / ||X||_F^2 for symmetric X (0 for X = 0).
double isometry_ratio(const SensingOperator& op, const Matrix& X);

/// Search both extremes of q over symmetric rank <= k. Throws
/// std::invalid_argument for k outside 1..d or bad options.
IsometryEstimate estimate_isometry(const SensingOperator& op, Index k,
                                   const IsometryOptions& options = {},
                                   const std::vector<Matrix>& extra_starts = {});

}  // namespace flowsense
