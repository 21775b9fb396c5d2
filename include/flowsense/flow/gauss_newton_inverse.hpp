#pragma once
// The inverse of the Gauss-Newton part of the implicit steppers' Newton
// matrix for the factor flow, by Woodbury over the m measurements: a
// preconditioner for their matrix-free GMRES (integrate/detail/shifted_solve.hpp,
// docs/steppers.md "Preconditioner").
//
// The factor flow's Jacobian at U is (FactorFlow::dense_jacobian)
//   J = -c Jr^T Jr - 2c (I_p kron S),  Jr the m x (d p) residual Jacobian,
//   S = A*(r(U)),
// so the Newton matrix of a BDF step with shift sigma = c_k h is
//   N = I - sigma J = (I + a Jr^T Jr) + 2 a (I_p kron S),  a = sigma c.
// The first term is what makes N ill-conditioned where the flow is stiff
// (lambda_max(H) ~ c ||Jr||^2 up to 1e8 from Example 1.1's norm-1e3 starts),
// and it has an exact inverse of size m (Woodbury):
//   (I + a Jr^T Jr)^-1 = I - Jr^T (I/a + G)^-1 Jr,   G = Jr Jr^T (m x m),
// for any a > 0. GMRES preconditioned with it only has to resolve the
// second term, which vanishes with the residual r. The build forms Jr and
// the Gram G once per frozen U (m^2 d p multiply-adds); an application is
// one operator application (Jr v = A(U V^T + V U^T)), one Cholesky solve
// of size m and one adjoint (Jr^T t = 2 vec(A*(t) U)), i.e. about one
// Jacobian-vector product. The Cholesky factor of I/a + G (m^3 / 3) is
// reused while a stays within a factor shift_ratio of the a it was made for
// (BDF changes h every few steps, log time changes the effective shift
// with every right-hand side); for a stale factor a' the preconditioned
// Gauss-Newton eigenvalues (1 + a lambda) / (1 + a' lambda) stay between 1
// and a / a', which costs GMRES an iteration or two, not a factorization.
//
// It pays only where m is small next to the state size d p (Example 1.1:
// m = 240, d p = 900); for m >= d p (paper 003: m = 5000, d p = 2500) the
// Woodbury form is larger than the state itself (StiffOptions::preconditioner,
// integrate/detail/shifted_solve.hpp: choose_preconditioner).
#include <cstdint>
#include <limits>

#include <Eigen/Cholesky>

#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

class GaussNewtonInverse {
public:
  /// Refactor when the shift a moves beyond this factor of the factored one.
  static constexpr double shift_ratio = 1.5;

  /// Builds Jr and G = Jr Jr^T at U (the loss must outlive this object).
  GaussNewtonInverse(const SensingLoss& loss, const Matrix& U);
  /// The same at another U, reusing the workspaces (Jr alone is m d p
  /// doubles: 1.7 MB at Example 1.1's size, whose fresh allocation costs
  /// page faults worth ~40% of a build).
  void rebuild(const Matrix& U);

  /// out = (I + sigma c Jr^T Jr)^-1 V, i.e. (I - sigma J_GN)^-1 V with J_GN
  /// = -c Jr^T Jr the Gauss-Newton part of the Jacobian: exact for the
  /// shift of the current factorization, which is redone when sigma c
  /// leaves [a' / shift_ratio, a' shift_ratio]. sigma = 0 gives out = V.
  /// Not thread-safe (it caches the factorization).
  void operator()(double sigma, const Matrix& V, Matrix& out) const;

  /// Q = (I - sigma J_GN)^-1 Y as above and NQ = (I - sigma J) Q with J the
  /// whole Jacobian at U (FactorFlow::Linearization, equal up to rounding):
  /// the product a right-preconditioned GMRES needs, for about the cost of
  /// the preconditioner alone. With the factored shift a' = a,
  ///   N Q = Y + 2a (I_p kron S) Q
  /// (the Gauss-Newton part cancels exactly); otherwise
  ///   N Q = Y + Jr^T (a (z - G t) - t) + 2a (I_p kron S) Q,
  ///   z = Jr Y, t = (I/a' + G)^-1 z (Jr Q = z - G t is known),
  /// which costs one more adjoint.
  void solve_apply(double sigma, const Matrix& Y, Matrix& Q, Matrix& NQ) const;

  /// Cholesky factorizations of I/a + G so far (each ~m^3 / 3 flops).
  std::uint64_t factorizations() const { return factorizations_; }
  Index measurements() const { return G_.rows(); }

private:
  void factor(double a) const;
  /// a = sigma c, factoring I/a + G if a left the range of the current factor.
  /// False if there is nothing to precondition (a <= 0, m = 0, or the
  /// factorization failed).
  bool prepare(double sigma, double& a) const;
  /// z = Jr vec(V) = A(U V^T + V U^T).
  void jr(const Matrix& V, Vector& z) const;
  /// out = Jr^T t / 2 = A*(t) U (reshaped to d x p).
  void jr_transpose_half(const Vector& t, Matrix& out) const;

  const SensingLoss* loss_;
  Matrix U_;
  Matrix Jr_;  ///< workspace: the residual Jacobian at U
  Matrix G_;  ///< Jr Jr^T (lower triangle)
  Matrix S_;  ///< A*(r(U))
  double floor_;  ///< smallest diagonal shift: keeps I/a + G positive definite in floating point
  mutable Matrix shifted_;  ///< workspace: I/a + G
  // Factored once (of an empty matrix) at construction: Eigen 3.4's default
  // LLT leaves its ComputationInfo uninitialized, and moving this object
  // (bdf.hpp emplaces the preconditioner) would read it (UBSan: an invalid
  // enum value).
  mutable Eigen::LLT<Matrix> llt_{Matrix()};
  mutable double factored_a_ = std::numeric_limits<double>::quiet_NaN();
  mutable bool factored_ok_ = false;
  mutable std::uint64_t factorizations_ = 0;
};

}  // namespace flowsense
