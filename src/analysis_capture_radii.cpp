#include "flowsense/analysis/capture_radii.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {

Matrix random_orthogonal(Index p, Rng& rng) {
  Eigen::HouseholderQR<Matrix> qr(rng.normal_matrix(p, p));
  return qr.householderQ() * Matrix::Identity(p, p);
}


}  // namespace

ManifoldConstants sample_manifold_constants(const SensingLoss& loss, double xi,
                                            const std::vector<Matrix>& starts,
                                            const ProjectionOptions& projection, double rank_tol,
                                            const EigenOptions& eigen) {
  if (!(xi > 0)) throw std::invalid_argument("sample_manifold_constants(): expected xi > 0, got " + std::to_string(xi));
  if (!(rank_tol > 0 && rank_tol < 1))
    throw std::invalid_argument("sample_manifold_constants(): expected 0 < rank_tol < 1, got " +
                                std::to_string(rank_tol));
  ManifoldConstants out;
  out.sigma_m = std::numeric_limits<double>::infinity();
  out.sigma_min = std::numeric_limits<double>::infinity();
  for (const auto& U : starts) {
    ConstraintProjection proj = project_onto_constraint(loss, U, projection);
    ManifoldSample s;
    s.point = proj.point;
    s.residual = proj.residual;
    const Vector sv = Eigen::JacobiSVD<Matrix>(s.point).singularValues();
    s.norm = sv.size() ? sv[0] : 0.0;
    s.rank = 0;
    s.sigma_min = 0.0;
    for (Index i = 0; i < sv.size(); ++i)
      if (sv[i] > rank_tol * s.norm) {
        ++s.rank;
        s.sigma_min = sv[i];
      }
    s.accepted = proj.converged && s.norm <= xi;
    if (s.accepted) {
      s.sigma_m = licq_margin(loss.op(), s.point, eigen).sigma_m;
      ++out.accepted;
      out.sigma_m = std::min(out.sigma_m, s.sigma_m);
      out.sigma_min = std::min(out.sigma_min, s.sigma_min);
    }
    out.samples.push_back(std::move(s));
  }
  std::ostringstream m;
  if (out.accepted == 0) {
    out.sigma_m = std::numeric_limits<double>::quiet_NaN();
    out.sigma_min = std::numeric_limits<double>::quiet_NaN();
    m << "no start projected onto M_b (of " << starts.size()
      << "): every projection failed or left the ball ||U|| <= xi = " << xi;
  } else {
    m << out.accepted << " of " << starts.size()
      << " starts projected onto M_b; the minima over these samples are UPPER bounds on "
         "sigma_m(M_b) and sigma_min(M_b)";
  }
  out.message = m.str();
  return out;
}

std::vector<Matrix> default_manifold_starts(const Problem& problem, const Matrix& U0, int count,
                                            std::uint64_t seed) {
  if (count < 1) throw std::invalid_argument("default_manifold_starts(): expected count >= 1, got " + std::to_string(count));
  if (U0.rows() != problem.dim())
    throw std::invalid_argument("default_manifold_starts(): expected U0 with d = " +
                                std::to_string(problem.dim()) + " rows, got " + std::to_string(U0.rows()));
  const Index d = U0.rows(), p = U0.cols();
  Rng rng(seed);
  const Matrix planted = psd_factor(problem.planted, p);
  std::vector<Matrix> starts;
  starts.push_back(U0);
  const double scales[] = {0.01, 0.1, 0.3};
  int k = 0;
  while (static_cast<int>(starts.size()) < count) {
    switch (k % 5) {
      case 0:
        starts.push_back(planted * random_orthogonal(p, rng));
        break;
      case 1: {
        const double sc = scales[(k / 5) % 3];
        Matrix G = rng.normal_matrix(d, p);
        starts.push_back(U0 + sc * U0.norm() / std::max(G.norm(), 1e-300) * G);
        break;
      }
      case 2: {
        const double sc = scales[(k / 5) % 3];
        Matrix G = rng.normal_matrix(d, p);
        starts.push_back(planted + sc * std::max(planted.norm(), 1e-12) / std::max(G.norm(), 1e-300) * G);
        break;
      }
      case 3: {
        const double w = rng.uniform();
        starts.push_back(w * U0 + (1 - w) * planted * random_orthogonal(p, rng));
        break;
      }
      default: {
        // A random factor of the row space of U0 (keeps rank(U0)).
        starts.push_back(rng.normal_matrix(d, d) * U0 / std::sqrt(static_cast<double>(d)));
        break;
      }
    }
    ++k;
  }
  return starts;
}

std::string CaptureRadiiInputs::validate() const {
  std::ostringstream s;
  auto finite = [](double x) { return std::isfinite(x); };
  if (!finite(op_norm) || !(op_norm > 0)) s << "op_norm must be finite and > 0, got " << op_norm;
  else if (!finite(alpha) || alpha < 0) s << "alpha must be finite and >= 0, got " << alpha;
  else if (!finite(sigma_m) || sigma_m < 0) s << "sigma_m must be finite and >= 0, got " << sigma_m;
  else if (!finite(sigma_min) || sigma_min < 0) s << "sigma_min must be finite and >= 0, got " << sigma_min;
  else if (!finite(xi) || !(xi > 0)) s << "xi must be finite and > 0, got " << xi;
  return s.str();
}

CaptureRadii capture_radii(const CaptureRadiiInputs& in) {
  if (auto problem = in.validate(); !problem.empty())
    throw std::invalid_argument("capture_radii(): " + problem);
  CaptureRadii r;
  const double prod = in.sigma_m * in.sigma_min * in.alpha;
  r.a = prod / (4.0 * in.op_norm);
  r.b = prod / (4.0 * in.op_norm * in.op_norm);
  r.c = in.sigma_m / (4.0 * in.op_norm) *
        std::min(1.0, in.sigma_min * in.alpha / (4.0 * in.xi * in.op_norm));
  return r;
}

std::string to_string(Membership m) {
  switch (m) {
    case Membership::outside: return "outside";
    case Membership::inside_estimate: return "inside_estimate";
    case Membership::undetermined: return "undetermined";
  }
  return "?";
}

CaptureCheck check_capture(const SensingLoss& loss, const Matrix& planted, const Matrix& U0,
                           const CaptureRadiiInputs& inputs, const ManifoldDistanceBounds& distance) {
  if (U0.rows() != loss.op().dim() || planted.rows() != loss.op().dim() || planted.cols() != loss.op().dim())
    throw std::invalid_argument("check_capture(): expected U0 with d rows and a d x d planted matrix, d = " +
                                std::to_string(loss.op().dim()));
  CaptureCheck c;
  c.radii = capture_radii(inputs);
  c.training_residual = loss.residual(U0).norm();
  c.test_error = (U0 * U0.transpose() - planted).norm();
  c.dist_lower = distance.lower;
  c.dist_upper = distance.upper;
  c.u0_norm = U0.size() ? Eigen::JacobiSVD<Matrix>(U0).singularValues()[0] : 0.0;
  c.norm_ok = c.u0_norm <= inputs.xi;
  c.a = c.training_residual < c.radii.a ? Membership::inside_estimate : Membership::outside;
  c.b = c.test_error < c.radii.b ? Membership::inside_estimate : Membership::outside;
  if (c.dist_lower >= c.radii.c) c.c = Membership::outside;
  else if (c.dist_upper < c.radii.c) c.c = Membership::inside_estimate;
  else c.c = Membership::undetermined;
  c.possibly_inside = c.norm_ok && (c.a != Membership::outside || c.b != Membership::outside ||
                                    c.c != Membership::outside);
  std::ostringstream e;
  e.precision(4);
  e << "(6a) ||A(U0U0^T) - b|| = " << c.training_residual << " vs radius " << c.radii.a << ": "
    << to_string(c.a) << "; (6b) ||U0U0^T - X|| = " << c.test_error << " vs " << c.radii.b << ": "
    << to_string(c.b) << "; (6c) dist(U0, M_b) in [" << c.dist_lower << ", " << c.dist_upper
    << "] vs " << c.radii.c << ": " << to_string(c.c) << "; ||U0|| = " << c.u0_norm
    << (c.norm_ok ? " <= " : " > ") << "xi = " << inputs.xi
    << ". The radii use upper-bound estimates of sigma_m(M_b), sigma_min(M_b) and alpha, so "
       "each computed radius is an upper bound on the true one: 'outside' is conclusive, "
       "'inside_estimate' is not.";
  c.explanation = e.str();
  return c;
}

}  // namespace flowsense
