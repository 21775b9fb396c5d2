#pragma once
// Extreme eigenpairs of a symmetric operator given only by its action x -> Sx:
// the one eigen-kernel behind ||A|| (operator_norm.hpp), the LICQ margin
// sigma_m(Dg(U)) (licq.hpp), the Hessian certificate of Z*_s (best_rank.hpp)
// and the isometry starts (isometry.hpp).
//
// Small operators (n <= dense_limit) are formed column by column (n
// applications) and solved densely with Eigen's SelfAdjointEigenSolver, which
// is exact to rounding; large ones go to Spectra's SymEigsSolver (implicitly
// restarted Lanczos), which never forms the matrix. Lanczos Ritz values lie
// inside the spectrum: a "largest" Ritz value is <= the true largest
// eigenvalue and a "smallest" one >= the true smallest. Spectra stops when
// each residual estimate is below tol * max(eps^(2/3), |lambda|); the
// smallest end is computed as the largest of sigma I - S (sigma just above
// lambda_max(S)), so there the residual is measured against ||S|| rather than
// against an eigenvalue that may be zero.
//
// Numerical outcomes are a status (converged = false with a message), never
// an exception; bad arguments (nev outside 1..n) throw std::invalid_argument.
//
// Depends only on core/: any stage may use it without an include cycle.
#include <cstdint>
#include <functional>
#include <string>

#include "flowsense/core/types.hpp"

namespace flowsense {

/// y = S x for a symmetric n x n operator S (y is resized by the callee).
using SymmetricOperator = std::function<void(const Vector& x, Vector& y)>;

enum class EigenMethod {
  automatic,  ///< dense when n <= dense_limit, else Lanczos
  dense,      ///< form S (n applications) and solve densely
  lanczos,    ///< Spectra SymEigsSolver, matrix-free
};

enum class EigenEnd { largest, smallest };

struct EigenOptions {
  EigenMethod method = EigenMethod::automatic;
  Index dense_limit = 400;   ///< automatic: dense when n <= dense_limit
  double tol = 1e-12;        ///< Lanczos: Spectra's relative tolerance (> 0)
  Index max_restarts = 3000; ///< Lanczos: restart budget (>= 1)
  Index ncv = 0;             ///< Lanczos subspace size; 0 = min(n, max(2 nev + 1, 30))
  std::uint64_t seed = 0;    ///< Lanczos start vector (uniform entries from Rng(seed))

  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

struct EigenResult {
  /// The nev eigenvalues at the requested end, most extreme first
  /// (descending for largest, ascending for smallest).
  Vector values;
  Matrix vectors;             ///< n x nev, orthonormal columns, matching values
  bool converged = false;
  std::string method;         ///< "dense" or "lanczos"
  Index applications = 0;     ///< how many times S was applied
  std::string message;        ///< empty when converged
};

/// The nev eigenpairs of S at one end of its spectrum.
EigenResult extreme_eigenpairs(const SymmetricOperator& op, Index n, Index nev, EigenEnd end,
                               const EigenOptions& options = {});

/// The n x n matrix of S, column j = S e_j, symmetrized as (S + S^T)/2 to
/// remove rounding asymmetry.
Matrix dense_matrix_of(const SymmetricOperator& op, Index n);

/// A d x p factor F whose Gram matrix F F^T is the PSD part of the symmetric
/// X, truncated to its p largest eigenvalues (exact when X is PSD of rank <= p);
/// column k is sqrt(lambda_k) v_k for the k-th largest positive eigenvalue,
/// zero beyond them. Dense (SelfAdjointEigenSolver), O(d^3).
Matrix psd_factor(const Matrix& X, Index p);

}  // namespace flowsense
