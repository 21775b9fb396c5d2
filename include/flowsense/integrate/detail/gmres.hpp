#pragma once
// Restarted GMRES (Saad & Schultz 1986) on matrices as vectors, and its
// flexible, right-preconditioned form (Saad 1993), for the
// Rosenbrock stage equations (I - gamma h J) u = r on states too large for a
// dense Jacobian (rosenbrock.hpp), and BDF's Newton corrections (bdf.hpp).
//
// Why GMRES and not CG: for the factor flow M = I + gamma h H is symmetric,
// but positive definite only where the Hessian H is (near minima); on the
// way there H has negative eigenvalues (saddles, the growth phase of small
// initializations) and M can be indefinite, where CG may break down. The
// Gram flow's M is not symmetric at all. GMRES minimizes the residual for
// any nonsingular M; on a symmetric M it produces the same iterates as MINRES
// in exact arithmetic, and its longer recurrence costs O(k n) per iteration,
// negligible next to one Jacobian-vector product at the sizes we meet
// (k <= restart, n = d p). Residual norms decrease monotonically, so a
// missed tolerance is a clean status the stepper answers with a smaller step.
#include <cmath>
#include <vector>

#include "flowsense/core/types.hpp"

namespace flowsense::detail {

struct GmresResult {
  int iterations = 0;     ///< operator applications
  bool converged = false;
  double residual = 0.0;  ///< ||b - A x||_F at exit (as tracked by the recurrence)
};

/// Solves A x = b for x with A given as op(in, out); x holds the initial
/// guess on entry. Stops when ||b - A x||_F <= tol or after max_iterations
/// applications.
///
/// With prec_op (flexible GMRES, Saad 1993), prec_op(v, z, Az) sets
/// z = M^-1 v for a right preconditioner M (it may change from call to
/// call) and Az = A z; x is updated by the z's, so the residual minimized
/// and tested is still that of A x = b, and no extra M^-1 is needed at the
/// end. op is then used only for the true residual of a nonzero x (a
/// nonzero initial guess, a restart). Without it, z = v (plain GMRES).
template <class Op, class PrecOp>
GmresResult flexible_gmres(const Op& op, const PrecOp* prec_op, const Matrix& b, Matrix& x, double tol,
                           int restart, int max_iterations) {
  GmresResult result;
  auto inner = [](const Matrix& p, const Matrix& q) { return (p.array() * q.array()).sum(); };
  Matrix r, w;
  std::vector<Matrix> V, Z;
  const auto m = static_cast<std::size_t>(restart);
  Matrix H = Matrix::Zero(restart + 1, restart);
  Vector cs(restart), sn(restart), g(restart + 1);

  while (true) {
    // r = b - A x
    if (x.isZero(0.0)) {
      r = b;
    } else {
      op(x, w);
      ++result.iterations;
      r = b - w;
    }
    double beta = r.norm();
    result.residual = beta;
    if (beta <= tol) {
      result.converged = true;
      return result;
    }
    if (result.iterations >= max_iterations) return result;

    V.clear();
    Z.clear();
    V.push_back(r / beta);
    H.setZero();
    g.setZero();
    g(0) = beta;
    std::size_t k = 0;
    bool done = false;
    for (; k < m && result.iterations < max_iterations; ++k) {
      if (prec_op) {
        Z.emplace_back();
        (*prec_op)(V[k], Z.back(), w);
      } else {
        op(V[k], w);
      }
      ++result.iterations;
      // Modified Gram-Schmidt, with one reorthogonalization pass (Krylov
      // bases of stiff operators lose orthogonality fast).
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t i = 0; i <= k; ++i) {
          const double h = inner(V[i], w);
          H(static_cast<Index>(i), static_cast<Index>(k)) += h;
          w -= h * V[i];
        }
      const double hn = w.norm();
      const auto kk = static_cast<Index>(k);
      H(kk + 1, kk) = hn;
      // Apply the previous rotations to the new column, then make a new one.
      for (Index i = 0; i < kk; ++i) {
        const double t = cs(i) * H(i, kk) + sn(i) * H(i + 1, kk);
        H(i + 1, kk) = -sn(i) * H(i, kk) + cs(i) * H(i + 1, kk);
        H(i, kk) = t;
      }
      const double denom = std::hypot(H(kk, kk), H(kk + 1, kk));
      cs(kk) = denom > 0 ? H(kk, kk) / denom : 1.0;
      sn(kk) = denom > 0 ? H(kk + 1, kk) / denom : 0.0;
      H(kk, kk) = denom;
      H(kk + 1, kk) = 0.0;
      g(kk + 1) = -sn(kk) * g(kk);
      g(kk) = cs(kk) * g(kk);
      result.residual = std::abs(g(kk + 1));
      if (result.residual <= tol || hn <= 1e-14 * beta) {
        ++k;
        done = true;
        break;
      }
      V.push_back(w / hn);
    }
    // x += Z y (Z = V without a preconditioner) with H(0:k, 0:k) y = g(0:k)
    // (upper triangular).
    const auto kk = static_cast<Index>(k);
    if (kk > 0) {
      const Vector y = H.topLeftCorner(kk, kk).triangularView<Eigen::Upper>().solve(g.head(kk));
      const std::vector<Matrix>& basis = prec_op ? Z : V;
      for (Index i = 0; i < kk; ++i) x += y(i) * basis[static_cast<std::size_t>(i)];
    }
    if (done && result.residual <= tol) {
      result.converged = true;
      return result;
    }
    if (result.iterations >= max_iterations) return result;
    if (done) continue;  // lucky breakdown above tol: restart recomputes the true residual
  }
}

/// Plain GMRES: flexible_gmres without a preconditioner.
template <class Op>
GmresResult gmres(const Op& op, const Matrix& b, Matrix& x, double tol, int restart, int max_iterations) {
  using NoPrec = void (*)(const Matrix&, Matrix&, Matrix&);
  return flexible_gmres(op, static_cast<const NoPrec*>(nullptr), b, x, tol, restart, max_iterations);
}

}  // namespace flowsense::detail
