#pragma once
// The operator norm of the sensing operator (paper 000, Assumption 3.1(iii),
// (6a)-(6c), (16), (47)):
//
//   ||A|| = max { ||A(X)||_2 : ||X||_F = 1 },
//
// taken over symmetric X. Over all of R^{d x d} it is the same number, because
// the A_i are symmetric: A(X) = A(sym X) and ||sym X||_F <= ||X||_F.
//
// Computed as sqrt(lambda_max(N)) for the normal operator
// N = vech o A* A o unvech on packed coordinates (core/packed.hpp keeps
// Frobenius inner products, so N is symmetric PSD on R^D, D = d(d+1)/2, with
// eigenvalues sigma_i(A)^2). Dense for D <= dense_limit, else Spectra Lanczos
// (matrix-free: one apply and one adjoint per iteration). Lanczos converges
// to lambda_max from below, so a converged value is accurate to tol and never
// above the truth.
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

/// x (packed, length D) -> vech(A*(A(unvech x))): the normal operator of A.
SymmetricOperator normal_operator(const SensingOperator& op);

/// The m x D matrix of A on packed coordinates: column k = A(unvech(e_k)).
/// Costs D applications of A; for tests and small problems.
Matrix packed_matrix(const SensingOperator& op);

struct OperatorNorm {
  double value = 0.0;     ///< ||A||
  Matrix maximizer;       ///< a unit-Frobenius symmetric X with ||A(X)|| = ||A||
  bool converged = false;
  std::string method;     ///< "dense" or "lanczos"
  Index applications = 0; ///< applications of the normal operator
  std::string message;
};

/// ||A||, the largest singular value of A on symmetric matrices.
OperatorNorm operator_norm(const SensingOperator& op, const EigenOptions& options = {});

}  // namespace flowsense
