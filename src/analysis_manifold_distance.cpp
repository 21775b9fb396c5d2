#include "flowsense/analysis/manifold_distance.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "flowsense/analysis/licq.hpp"

namespace flowsense {

namespace {

double spectral_norm(const Matrix& U) {
  if (U.size() == 0) return 0.0;
  return Eigen::JacobiSVD<Matrix>(U).singularValues()[0];
}

struct KSolve {
  Vector delta;
  bool ok = false;
  std::string message;
};

/// Solve K(V) delta = rhs, K(V) = Dg(V) Dg(V)* (licq.hpp).
KSolve solve_k(const SensingOperator& op, const Matrix& V, const Vector& rhs,
               const ProjectionOptions& o, double cg_tol) {
  const Index m = op.measurements();
  const Matrix X = V * V.transpose();
  const SymmetricOperator K = licq_operator_from_gram(op, X);
  KSolve out;
  if (m <= o.dense_limit) {
    const Matrix Kd = dense_matrix_of(K, m);
    Eigen::LLT<Matrix> llt(Kd);
    if (llt.info() != Eigen::Success) {
      out.message = "K(V) = Dg Dg* is not positive definite: LICQ (000 Ass. 3.1(ii)) fails here";
      return out;
    }
    out.delta = llt.solve(rhs);
    out.ok = out.delta.allFinite();
    if (!out.ok) out.message = "K(V) solve produced non-finite values";
    return out;
  }
  // Conjugate gradients on the SPD operator K.
  const int max_it = o.cg_max_iterations > 0 ? o.cg_max_iterations : static_cast<int>(10 * m);
  Vector x = Vector::Zero(m), r = rhs, p = r, Kp;
  double rr = r.squaredNorm();
  const double target = cg_tol * cg_tol * rhs.squaredNorm();
  for (int it = 0; it < max_it && rr > target; ++it) {
    K(p, Kp);
    const double pKp = p.dot(Kp);
    if (!(pKp > 0)) {
      out.message = "CG met a non-positive curvature of K(V): LICQ fails here";
      return out;
    }
    const double a = rr / pKp;
    x += a * p;
    r -= a * Kp;
    const double rr_new = r.squaredNorm();
    p = r + (rr_new / rr) * p;
    rr = rr_new;
  }
  out.delta = x;
  out.ok = rr <= target || rr <= 1e-16 * rhs.squaredNorm();
  if (!out.ok) {
    std::ostringstream s;
    s << "CG on K(V) stopped at relative residual " << std::sqrt(rr / rhs.squaredNorm());
    out.message = s.str();
    out.ok = true;  // an inexact Gauss-Newton step is still a descent step; the line search guards it
  }
  return out;
}

/// argmin over t in (0, 1] of ||r - t a + t^2 q||^2 (see gauss_newton).
double exact_step(const Vector& r, const Matrix& step, const Matrix& V, const SensingOperator& op) {
  Matrix DV;
  DV.noalias() = step * V.transpose();
  Vector a, q;
  op.apply(DV + DV.transpose(), a);
  Matrix DD;
  DD.noalias() = step * step.transpose();
  op.apply(DD, q);
  const double rr = r.squaredNorm(), ra = r.dot(a), rq = r.dot(q), aa = a.squaredNorm(),
               aq = a.dot(q), qq = q.squaredNorm();
  auto phi = [&](double t) {
    return rr - 2 * t * ra + t * t * (aa + 2 * rq) - 2 * t * t * t * aq + t * t * t * t * qq;
  };
  // Grid, then golden-section refinement around the best grid point.
  const int n = 64;
  int best = n;
  double fbest = phi(1.0);
  for (int i = 1; i < n; ++i) {
    const double f = phi(static_cast<double>(i) / n);
    if (f < fbest) {
      fbest = f;
      best = i;
    }
  }
  double lo = std::max(0.0, (best - 1.0) / n), hi = std::min(1.0, (best + 1.0) / n);
  const double g = 0.5 * (std::sqrt(5.0) - 1.0);
  for (int it = 0; it < 40; ++it) {
    const double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    if (phi(x1) < phi(x2)) hi = x2;
    else lo = x1;
  }
  const double t = 0.5 * (lo + hi);
  return phi(t) < fbest ? t : static_cast<double>(best) / n;
}

double residual_scale(const SensingLoss& loss, const Vector& r) {
  // ||A(VV^T)|| = ||r + b||.
  return std::max(loss.data().norm(), (r + loss.data()).norm());
}

/// Gauss-Newton from V; returns the end point and fills stats.
Matrix gauss_newton(const SensingLoss& loss, Matrix V, const ProjectionOptions& o, bool& converged,
                    int& iterations, double& residual, double& path, std::string& message) {
  const SensingOperator& op = loss.op();
  Vector r = loss.residual(V);
  converged = false;
  iterations = 0;
  path = 0.0;
  message.clear();
  for (int it = 0; it < o.max_iterations; ++it) {
    const double rn = r.norm();
    if (rn <= o.residual_tol * residual_scale(loss, r)) {
      converged = true;
      break;
    }
    // Inexact Newton: a CG solve to a relative accuracy ~ the relative
    // residual keeps the quadratic convergence (any CG iterate delta still
    // gives a step A*(delta) V in the range of Dg*, i.e. normal to the
    // constraint set's tangent space).
    const double rel = rn / residual_scale(loss, r);
    const double forcing = o.inexact_newton ? std::max(o.cg_tol, std::min(0.1, rel)) : o.cg_tol;
    KSolve ks = solve_k(op, V, 0.5 * r, o, forcing);
    if (!ks.ok) {
      message = ks.message;
      break;
    }
    Matrix step;
    op.adjoint_times(ks.delta, V, step);
    // The residual along the step is an exact quadratic in t:
    //   r(V - t D) = r - t a + t^2 q,  a = A(D V^T + V D^T),  q = A(D D^T),
    // so the best t in (0, 1] is found from scalars (far from the constraint
    // set the full Gauss-Newton step overshoots; this keeps the iteration count
    // low). The true residual then decides, with halving as a fallback.
    double t = exact_step(r, step, V, op);
    bool accepted = false;
    for (int half = 0; half < 40; ++half, t *= 0.5) {
      Matrix Vt = V - t * step;
      Vector rt = loss.residual(Vt);
      if (rt.allFinite() && rt.norm() < rn) {
        V = std::move(Vt);
        r = std::move(rt);
        path += t * step.norm();
        accepted = true;
        break;
      }
    }
    ++iterations;
    if (!accepted) {
      // No decrease: at the rounding floor, or a genuine failure.
      if (rn <= 1e3 * o.residual_tol * residual_scale(loss, r)) {
        converged = true;
      } else {
        std::ostringstream s;
        s << "Gauss-Newton step did not decrease the residual " << rn << " after 40 halvings";
        message = s.str();
      }
      break;
    }
  }
  residual = r.norm();
  if (!converged && message.empty()) {
    if (residual <= o.residual_tol * residual_scale(loss, r)) {
      converged = true;
    } else {
      std::ostringstream s;
      s << "Gauss-Newton reached " << o.max_iterations << " iterations at residual " << residual;
      message = s.str();
    }
  }
  return V;
}

}  // namespace

std::string ProjectionOptions::validate() const {
  std::ostringstream s;
  if (max_iterations < 1) s << "max_iterations must be >= 1, got " << max_iterations;
  else if (!(residual_tol > 0)) s << "residual_tol must be > 0, got " << residual_tol;
  else if (dense_limit < 0) s << "dense_limit must be >= 0, got " << dense_limit;
  else if (!(cg_tol > 0)) s << "cg_tol must be > 0, got " << cg_tol;
  else if (cg_max_iterations < 0) s << "cg_max_iterations must be >= 0, got " << cg_max_iterations;
  else if (refine_steps < 0) s << "refine_steps must be >= 0, got " << refine_steps;
  return s.str();
}

ConstraintProjection project_onto_constraint(const SensingLoss& loss, const Matrix& U,
                                             const ProjectionOptions& options) {
  if (auto problem = options.validate(); !problem.empty())
    throw std::invalid_argument("project_onto_constraint(): " + problem);
  if (U.rows() != loss.op().dim())
    throw std::invalid_argument("project_onto_constraint(): expected a factor with d = " +
                                std::to_string(loss.op().dim()) + " rows, got " +
                                std::to_string(U.rows()));
  ConstraintProjection out;
  out.initial_residual = loss.residual(U).norm();
  out.point = gauss_newton(loss, U, options, out.converged, out.iterations, out.residual,
                           out.path_length, out.message);
  out.displacement = (U - out.point).norm();
  if (!out.converged) return out;

  // Tangent refinement: move along the tangent space of {A(VV^T) = b} at V
  // towards U, re-project, keep only improvements.
  const SensingOperator& op = loss.op();
  for (int k = 0; k < options.refine_steps; ++k) {
    const Matrix& V = out.point;
    const Matrix E = U - V;
    KSolve ks = solve_k(op, V, dg_apply(op, V, E), options, std::max(options.cg_tol, 1e-10));
    if (!ks.ok) break;
    Matrix normal;
    op.adjoint_times(ks.delta, V, normal);
    const Matrix T = E - normal;  // the tangent part of U - V
    if (T.norm() <= 1e-14 * std::max(1.0, V.norm())) break;
    bool conv;
    int its;
    double res, path;
    std::string msg;
    Matrix Vn = gauss_newton(loss, V + T, options, conv, its, res, path, msg);
    const double dn = (U - Vn).norm();
    if (!conv || !(dn < out.displacement)) break;
    const double gain = out.displacement - dn;
    out.point = std::move(Vn);
    out.residual = res;
    out.displacement = dn;
    ++out.refinements;
    if (gain <= 1e-10 * std::max(dn, 1e-300)) break;
  }
  return out;
}

double manifold_distance_lower_bound(double residual_norm, double op_norm, double factor_norm,
                                     std::optional<double> xi) {
  if (!(op_norm > 0))
    throw std::invalid_argument("manifold_distance_lower_bound(): expected ||A|| > 0, got " +
                                std::to_string(op_norm));
  const double rho = residual_norm / op_norm;
  double lower = rho / (factor_norm + std::sqrt(factor_norm * factor_norm + rho));
  if (!(rho > 0)) lower = 0.0;
  if (xi) {
    if (!(*xi > 0))
      throw std::invalid_argument("manifold_distance_lower_bound(): expected xi > 0, got " +
                                  std::to_string(*xi));
    lower = std::max(lower, rho / (factor_norm + *xi));
  }
  return lower;
}

ManifoldDistanceBounds manifold_distance_lower(const SensingLoss& loss, const Matrix& U,
                                               double op_norm, std::optional<double> xi) {
  if (U.rows() != loss.op().dim())
    throw std::invalid_argument("manifold_distance_lower(): expected a factor with d = " +
                                std::to_string(loss.op().dim()) + " rows, got " +
                                std::to_string(U.rows()));
  if (!(op_norm > 0))
    throw std::invalid_argument("manifold_distance_lower(): expected ||A|| > 0, got " +
                                std::to_string(op_norm));
  ManifoldDistanceBounds b;
  b.residual_norm = loss.residual(U).norm();
  b.factor_norm = spectral_norm(U);
  const double rho = b.residual_norm / op_norm;
  b.lower_free = rho > 0 ? rho / (b.factor_norm + std::sqrt(b.factor_norm * b.factor_norm + rho)) : 0.0;
  b.lower_xi = xi ? rho / (b.factor_norm + *xi) : std::numeric_limits<double>::quiet_NaN();
  b.lower = manifold_distance_lower_bound(b.residual_norm, op_norm, b.factor_norm, xi);
  b.upper = std::numeric_limits<double>::infinity();
  b.message = "upper bound not computed";
  return b;
}

ManifoldDistanceBounds manifold_distance_bounds(const SensingLoss& loss, const Matrix& U,
                                                double op_norm, std::optional<double> xi,
                                                const ProjectionOptions& options) {
  ManifoldDistanceBounds b = manifold_distance_lower(loss, U, op_norm, xi);
  b.message.clear();
  b.projection = project_onto_constraint(loss, U, options);
  b.end_norm = spectral_norm(b.projection.point);
  b.end_within_xi = !xi || b.end_norm <= *xi;
  if (!b.projection.converged) {
    b.upper = std::numeric_limits<double>::infinity();
    b.message = "projection did not converge: " + b.projection.message;
  } else if (!b.end_within_xi) {
    b.upper = std::numeric_limits<double>::infinity();
    std::ostringstream s;
    s << "the projected point has ||V|| = " << b.end_norm << " > xi = " << *xi
      << ": it is not on M_b, no upper bound";
    b.message = s.str();
  } else {
    b.upper = b.projection.displacement;
  }
  return b;
}

}  // namespace flowsense
