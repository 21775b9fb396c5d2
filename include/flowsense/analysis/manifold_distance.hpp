#pragma once
// Bounds on the distance from a factor U (d x p) to the zero-training-error
// set of paper 000,
//
//   M_b = { V : A(V V^T) = b, ||V|| <= xi },   dist(U, M_b) = min_{V in M_b} ||U - V||_F  (14).
//
// Lower bounds. For any V in M_b, with r = A(UU^T) - b = A(UU^T - VV^T) and
// UU^T - VV^T = U (U - V)^T + (U - V) V^T,
//
//   ||r||_2 <= ||A|| ||UU^T - VV^T||_F <= ||A|| (||U|| + ||V||) ||U - V||_F
//
// (||.|| = spectral norm, ||A|| = operator norm, operator_norm.hpp), the step
// paper 000 takes in (47). Two ways to bound ||V||:
//   * ||V|| <= xi (V in M_b):        dist >= ||r|| / (||A|| (||U|| + xi));
//   * ||V|| <= ||U|| + ||U - V||_F:  ||r|| <= ||A|| delta (2||U|| + delta), so
//                                    dist >= rho / (||U|| + sqrt(||U||^2 + rho)),
//                                    rho = ||r|| / ||A||,
// the second valid without xi (it bounds the distance to the larger set
// {A(VV^T) = b}). Both hold for every U; `lower` is their maximum. They need
// the true ||A|| or an upper bound on it; a converged Lanczos value is
// accurate to its tolerance (operator_norm.hpp).
//
// Upper bound. A Gauss-Newton projection onto {A(VV^T) = b}: the minimum-norm
// steps V <- V - Dg(V)^+ g(V) = V - A*(delta) V with K(V) delta = g(V)
// (licq.hpp: g = r/2, K = Dg Dg*), safeguarded by halving the step until the
// residual decreases, converge quadratically where LICQ holds. If the end
// point V_end has residual <= tol and ||V_end|| <= xi it lies on M_b (to that
// residual), so dist(U, M_b) <= ||U - V_end||_F. Optional refinement moves
// V_end along the tangent space of the constraint set towards U and
// re-projects, keeping a new point only if it is closer; this tightens, never
// loosens, the bound. Every step has the form (I - A*(delta)) V, so the
// projection keeps the row space (and the rank) of U, like the flow does.
#include <optional>
#include <string>

#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

struct ProjectionOptions {
  int max_iterations = 60;      ///< Gauss-Newton iterations (>= 1)
  /// Converged when ||A(VV^T) - b|| <= residual_tol * max(||b||, ||A(VV^T)||).
  double residual_tol = 1e-12;
  /// Solve K delta = g densely (form K: m applications of K, then Cholesky)
  /// when m <= dense_limit, else by matrix-free CG. Dense is robust; CG pays
  /// only for large m with a well-conditioned K (sigma_1/sigma_m of Dg small).
  Index dense_limit = 1200;
  /// CG: the tightest relative residual of K delta = g. Each Gauss-Newton
  /// step solves only to max(cg_tol, min(0.1, relative constraint residual))
  /// (inexact Newton, still quadratic); tangent refinements to max(cg_tol, 1e-10).
  double cg_tol = 1e-13;
  /// CG only: solve each Gauss-Newton system to the forcing tolerance above
  /// (true) or always to cg_tol (false: the same path as the dense solve,
  /// slower). Inexact steps reach a different point of the constraint set.
  bool inexact_newton = true;
  int cg_max_iterations = 0;    ///< CG: 0 = 10 m
  int refine_steps = 8;         ///< tangent refinements of the end point (>= 0)

  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

struct ConstraintProjection {
  Matrix point;               ///< V_end
  bool converged = false;     ///< residual <= tol at V_end
  int iterations = 0;         ///< Gauss-Newton iterations in the first projection
  double initial_residual = 0.0;  ///< ||A(UU^T) - b||
  double residual = 0.0;      ///< ||A(V_end V_end^T) - b||
  double path_length = 0.0;   ///< sum of ||step||_F of the first projection
  double displacement = 0.0;  ///< ||U - V_end||_F (after refinement)
  int refinements = 0;        ///< accepted tangent refinements
  std::string message;        ///< why it stopped, if not converged
};

/// Gauss-Newton projection of U onto {V : A(VV^T) = b} (no norm constraint).
ConstraintProjection project_onto_constraint(const SensingLoss& loss, const Matrix& U,
                                             const ProjectionOptions& options = {});

/// max of the two lower bounds above; xi may be absent (then only the
/// xi-free bound). Arguments: ||r||_2, ||A||, ||U|| (spectral).
double manifold_distance_lower_bound(double residual_norm, double op_norm, double factor_norm,
                                     std::optional<double> xi);

struct ManifoldDistanceBounds {
  double lower = 0.0;          ///< max(lower_xi, lower_free): dist(U, M_b) >= lower
  double lower_xi = 0.0;       ///< ||r|| / (||A|| (||U|| + xi)); NaN without xi
  double lower_free = 0.0;     ///< rho / (||U|| + sqrt(||U||^2 + rho)), rho = ||r|| / ||A||
  /// ||U - V_end||_F if V_end is on M_b (converged and ||V_end|| <= xi, or no
  /// xi given), else +infinity: dist(U, M_b) <= upper.
  double upper = 0.0;
  double residual_norm = 0.0;  ///< ||A(UU^T) - b||
  double factor_norm = 0.0;    ///< ||U|| (spectral)
  double end_norm = 0.0;       ///< ||V_end|| (spectral)
  bool end_within_xi = false;  ///< ||V_end|| <= xi (true when no xi is given)
  ConstraintProjection projection;
  std::string message;         ///< why upper is infinite, if it is
};

/// Both bounds at U. `op_norm` is ||A|| (operator_norm(); compute it once).
ManifoldDistanceBounds manifold_distance_bounds(const SensingLoss& loss, const Matrix& U,
                                                double op_norm, std::optional<double> xi,
                                                const ProjectionOptions& options = {});

/// The lower bound only (no projection): cheap enough for every observation.
ManifoldDistanceBounds manifold_distance_lower(const SensingLoss& loss, const Matrix& U,
                                               double op_norm, std::optional<double> xi);

}  // namespace flowsense
