#pragma once
// The Jacobian of the residual and the LICQ margin of paper 000,
// Assumption 3.1(ii).
//
// With g(U) = (A(UU^T) - b)/2 (000, (training error)) the derivative is
//
//   Dg(U)[Delta] = (1/2) A(Delta U^T + U Delta^T) = A(Delta U^T),      (10)
//   Dg(U)*[delta] = A*(delta) U = sum_i delta_i A_i U,                  (11)
//
// where the second form of (10) uses that every A_i is symmetric, so
// A(Y) = A(Y^T) = A(sym Y). (Code note: SensingOperator::apply reads only the
// upper triangle, so the code always passes sym(Delta U^T) explicitly.)
// For the loss family G_c of loss/sensing_loss.hpp, grad G_c(U) = 2c A*(r) U
// = 4c Dg(U)*[g(U)]; Dg itself does not depend on c.
//
// sigma_m(Dg(U)) is the m-th largest singular value of Dg(U) : R^{d x p} -> R^m.
// Since Dg Dg* is the m x m matrix
//
//   K(U) = Dg(U) Dg(U)* : delta -> A(sym(A*(delta) U U^T)),
//   K_ij = <s A_i U, s A_j U>_F = s^2 tr(A_i X A_j),  X = U U^T,
//
// (s = the operator's scale, DESIGN.md) whose eigenvalues are the squares of
// the m largest singular values of Dg(U) (padded with zeros when dp < m),
//
//   sigma_m(Dg(U)) = sqrt(lambda_min(K(U))).
//
// K depends on U only through X = U U^T, so the margin is the same for every
// U R (R orthogonal) and can be evaluated from a Gram state too.
// LICQ holds at U iff K(U) is positive definite.
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

/// Dg(U)[Delta] = A(sym(Delta U^T)), an m-vector (000 (10)).
Vector dg_apply(const SensingOperator& op, const Matrix& U, const Matrix& Delta);

/// Dg(U)*[delta] = A*(delta) U, a d x p matrix (000 (11)).
Matrix dg_adjoint(const SensingOperator& op, const Matrix& U, const Vector& delta);

/// K = Dg(U) Dg(U)* as a matrix-free operator on R^m, from X = U U^T.
SymmetricOperator licq_operator_from_gram(const SensingOperator& op, const Matrix& X);

/// The dense m x m matrix K(U) (m applications of the operator above).
Matrix licq_gram(const SensingOperator& op, const Matrix& U);

struct LicqMargin {
  double sigma_m = 0.0;     ///< sigma_m(Dg(U)) = sqrt(max(lambda_min(K), 0))
  double lambda_min = 0.0;  ///< lambda_min(K(U)) (may be slightly negative by rounding)
  bool converged = false;
  std::string method;       ///< "dense" or "lanczos"
  Index applications = 0;   ///< applications of K (each costs one A* and one A)
  std::string message;
};

/// sigma_m(Dg(U)), Assumption 3.1(ii): dense when m <= options.dense_limit,
/// else Spectra Lanczos on K (a Ritz value for the smallest eigenvalue is an
/// upper bound on lambda_min(K) until it converges).
LicqMargin licq_margin(const SensingOperator& op, const Matrix& U, const EigenOptions& options = {});

/// The same from X = U U^T (e.g. the state of the X flow (30)).
LicqMargin licq_margin_from_gram(const SensingOperator& op, const Matrix& X,
                                 const EigenOptions& options = {});

}  // namespace flowsense
