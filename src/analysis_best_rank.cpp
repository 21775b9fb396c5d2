#include "flowsense/analysis/best_rank.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {

using Map = Eigen::Map<const Matrix>;

/// An orthonormal basis (columns) of the vertical space {U Omega : Omega skew}
/// at U (d x s), as vectors of length d s (column-major vec).
Matrix vertical_basis(const Matrix& U) {
  const Index d = U.rows(), s = U.cols(), n = d * s;
  const Index k = s * (s - 1) / 2;
  if (k == 0) return Matrix(n, 0);
  Matrix G(n, k);
  Index j = 0;
  for (Index a = 0; a < s; ++a)
    for (Index b = a + 1; b < s; ++b) {
      Matrix Om = Matrix::Zero(s, s);
      Om(a, b) = 1.0;
      Om(b, a) = -1.0;
      const Matrix V = U * Om;
      G.col(j++) = Eigen::Map<const Vector>(V.data(), n);
    }
  Eigen::ColPivHouseholderQR<Matrix> qr(G);
  const double scale = std::max(G.colwise().norm().maxCoeff(), 1e-300);
  qr.setThreshold(1e-10);
  Index rank = qr.rank();
  if (G.norm() <= 1e-300 * scale) rank = 0;
  Matrix Q = qr.householderQ() * Matrix::Identity(n, k);
  return Q.leftCols(rank);
}

Vector project_horizontal(const Matrix& Qv, const Vector& x) {
  if (Qv.cols() == 0) return x;
  return x - Qv * (Qv.transpose() * x);
}

/// Hessian-vector product of G_c at U on vec'd directions.
Vector hvp(const SensingLoss& loss, const Matrix& U, const Vector& v) {
  const Map V(v.data(), U.rows(), U.cols());
  Matrix HV;
  loss.hessian_vector(U, Matrix(V), HV);
  return Eigen::Map<const Vector>(HV.data(), HV.size());
}

double relative_gradient_of(const SensingLoss& loss, double grad_norm, const Matrix& U,
                            double adjoint_b_norm) {
  const double denom = 2.0 * loss.c() * adjoint_b_norm * U.norm();
  return denom > 0 ? grad_norm / denom : std::numeric_limits<double>::infinity();
}

// ---------------------------------------------------------------- L-BFGS

struct Evaluation {
  double f;
  Matrix g;
};

Evaluation evaluate(const SensingLoss& loss, const Matrix& U) {
  Evaluation e;
  e.f = loss.value_and_gradient(U, e.g);
  return e;
}

/// Strong-Wolfe line search (Nocedal & Wright, Alg. 3.5/3.6) along P from U.
/// Returns the accepted step (0 if no progress) and the evaluation there.
double wolfe_search(const SensingLoss& loss, const Matrix& U, const Evaluation& e0, const Matrix& P,
                    double a1, Evaluation& out) {
  const double c1 = 1e-4, c2 = 0.9;
  const double phi0 = e0.f, dphi0 = (e0.g.array() * P.array()).sum();
  if (!(dphi0 < 0)) return 0.0;
  struct Pt {
    double a, phi, dphi;
    Evaluation e;
  };
  auto at = [&](double a) {
    Pt p;
    p.a = a;
    p.e = evaluate(loss, U + a * P);
    p.phi = p.e.f;
    p.dphi = (p.e.g.array() * P.array()).sum();
    return p;
  };
  auto insufficient = [&](const Pt& p) {
    return !std::isfinite(p.phi) || p.phi > phi0 + c1 * p.a * dphi0;
  };
  // lo: the best point so far with sufficient decrease; hi: the other end.
  auto zoom = [&](Pt lo, Pt hi) -> Pt {
    for (int it = 0; it < 40; ++it) {
      const double w = hi.a - lo.a;
      double trial = lo.a + 0.5 * w;
      const double denom = 2.0 * (hi.phi - lo.phi - lo.dphi * w);
      if (std::isfinite(hi.phi) && denom > 0) {
        const double q = lo.a - lo.dphi * w * w / denom;
        const double left = std::min(lo.a, hi.a) + 0.1 * std::abs(w);
        const double right = std::max(lo.a, hi.a) - 0.1 * std::abs(w);
        if (q >= left && q <= right) trial = q;
      }
      Pt t = at(trial);
      if (insufficient(t) || t.phi >= lo.phi) {
        hi = std::move(t);
      } else {
        if (std::abs(t.dphi) <= -c2 * dphi0) return t;
        if (t.dphi * (hi.a - lo.a) >= 0) hi = lo;
        lo = std::move(t);
      }
      if (std::abs(hi.a - lo.a) <= 1e-15 * std::max(1.0, std::abs(lo.a))) break;
    }
    return lo;
  };
  Pt prev{0.0, phi0, dphi0, e0};
  double a = a1;
  for (int i = 0; i < 60; ++i) {
    Pt cur = at(a);
    if (insufficient(cur) || (i > 0 && cur.phi >= prev.phi)) {
      Pt r = zoom(std::move(prev), std::move(cur));
      out = std::move(r.e);
      return r.a;
    }
    if (std::abs(cur.dphi) <= -c2 * dphi0) {
      out = std::move(cur.e);
      return cur.a;
    }
    if (cur.dphi >= 0) {
      Pt r = zoom(std::move(cur), std::move(prev));
      out = std::move(r.e);
      return r.a;
    }
    prev = std::move(cur);
    a *= 2.0;
  }
  out = std::move(prev.e);
  return prev.a;
}

Matrix lbfgs(const SensingLoss& loss, Matrix U, const BestRankOptions& o, double adjoint_b_norm) {
  Evaluation e = evaluate(loss, U);
  std::deque<Matrix> S, Y;
  std::deque<double> rho;
  for (int it = 0; it < o.max_iterations; ++it) {
    const double gn = e.g.norm();
    if (relative_gradient_of(loss, gn, U, adjoint_b_norm) <= o.lbfgs_tol) break;
    // Two-loop recursion.
    Matrix q = e.g;
    std::vector<double> alpha(S.size());
    for (int i = static_cast<int>(S.size()) - 1; i >= 0; --i) {
      alpha[i] = rho[i] * (S[i].array() * q.array()).sum();
      q -= alpha[i] * Y[i];
    }
    if (!S.empty()) {
      const double gamma = (S.back().array() * Y.back().array()).sum() / Y.back().squaredNorm();
      q *= gamma;
    } else {
      q *= 1.0 / std::max(gn, 1e-300) * std::min(1.0, U.norm() + 1e-12);
    }
    for (std::size_t i = 0; i < S.size(); ++i) {
      const double beta = rho[i] * (Y[i].array() * q.array()).sum();
      q += (alpha[i] - beta) * S[i];
    }
    Matrix P = -q;
    if (!((P.array() * e.g.array()).sum() < 0)) {  // not a descent direction: reset
      S.clear();
      Y.clear();
      rho.clear();
      P = -e.g / std::max(gn, 1e-300) * std::min(1.0, U.norm() + 1e-12);
    }
    Evaluation en;
    const double a = wolfe_search(loss, U, e, P, 1.0, en);
    if (!(a > 0) || en.g.size() == 0) break;
    Matrix s = a * P;
    Matrix y = en.g - e.g;
    const double sy = (s.array() * y.array()).sum();
    U += s;
    e = std::move(en);
    if (sy > 1e-300) {
      S.push_back(std::move(s));
      Y.push_back(std::move(y));
      rho.push_back(1.0 / sy);
      if (static_cast<int>(S.size()) > o.lbfgs_memory) {
        S.pop_front();
        Y.pop_front();
        rho.pop_front();
      }
    }
  }
  return U;
}

// ---------------------------------------------------------------- Newton-CG

Matrix newton_polish(const SensingLoss& loss, Matrix U, const BestRankOptions& o, double adjoint_b_norm) {
  const Index d = U.rows(), s = U.cols(), n = d * s;
  Evaluation e = evaluate(loss, U);
  for (int it = 0; it < o.newton_steps; ++it) {
    const double gn = e.g.norm();
    const double rel = relative_gradient_of(loss, gn, U, adjoint_b_norm);
    if (rel <= o.gradient_tol) break;
    const Matrix Qv = vertical_basis(U);
    const Vector g = project_horizontal(Qv, Eigen::Map<const Vector>(e.g.data(), n));
    // Truncated CG on P H P x = -g.
    Vector x = Vector::Zero(n), r = -g, p = r;
    double rr = r.squaredNorm();
    const double forcing = std::min(0.1, std::sqrt(rel));
    const double target = forcing * forcing * g.squaredNorm();
    for (Index k = 0; k < 2 * n && rr > target; ++k) {
      const Vector Hp = project_horizontal(Qv, hvp(loss, U, p));
      const double pHp = p.dot(Hp);
      if (!(pHp > 0)) {
        if (k == 0) x = -g;  // negative curvature at once: steepest descent
        break;
      }
      const double a = rr / pHp;
      x += a * p;
      r -= a * Hp;
      const double rr_new = r.squaredNorm();
      p = r + (rr_new / rr) * p;
      rr = rr_new;
    }
    const Matrix step = Eigen::Map<const Matrix>(x.data(), d, s);
    const double slope = g.dot(x);
    bool accepted = false;
    double t = 1.0;
    for (int half = 0; half < 30; ++half, t *= 0.5) {
      Evaluation en = evaluate(loss, U + t * step);
      const bool armijo = en.f <= e.f + 1e-4 * t * slope;
      // Near the minimum f changes below rounding: accept a gradient decrease.
      const bool gradient_drop = en.f <= e.f + 1e-14 * std::abs(e.f) && en.g.norm() < gn;
      if (std::isfinite(en.f) && (armijo || gradient_drop)) {
        U += t * step;
        e = std::move(en);
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
  }
  return U;
}

double adjoint_norm(const SensingLoss& loss) {
  return loss.op().adjoint(loss.data()).norm();
}

/// Top-k eigenpairs of a symmetric d x d matrix (largest first).
EigenResult top_eigs(const Matrix& S, Index k, const EigenOptions& options) {
  const SymmetricOperator op = [&S](const Vector& x, Vector& y) { y.noalias() = S * x; };
  return extreme_eigenpairs(op, S.rows(), k, EigenEnd::largest, options);
}

Matrix spectral_start(const SensingLoss& loss, int s, const EigenOptions& options) {
  const Matrix Ab = loss.op().adjoint(loss.data());
  const Index d = Ab.rows();
  EigenResult eig = top_eigs(Ab, s, options);
  Matrix V = eig.vectors;
  Vector lam = eig.values;
  if (V.cols() < s) {  // Lanczos did not deliver: fall back to dense
    EigenOptions dense = options;
    dense.method = EigenMethod::dense;
    eig = top_eigs(Ab, s, dense);
    V = eig.vectors;
    lam = eig.values;
  }
  const double top = std::max(lam.maxCoeff(), 0.0);
  Matrix U(d, s);
  for (int j = 0; j < s; ++j) {
    const double l = top > 0 ? std::max(lam[j], 1e-3 * top) : 1.0;
    U.col(j) = std::sqrt(l) * V.col(j);
  }
  // Least-squares scale along Z0 = U U^T: tau = <A(Z0), b> / ||A(Z0)||^2.
  Vector a;
  loss.op().apply_gram(U, a);
  double tau = a.squaredNorm() > 0 ? a.dot(loss.data()) / a.squaredNorm() : 1.0;
  if (!(tau > 0)) tau = 1e-3;
  return std::sqrt(tau) * U;
}

Matrix greedy_start(const SensingLoss& loss, const Matrix& W, const EigenOptions& options) {
  const Index d = W.rows(), s = W.cols() + 1;
  Vector r = loss.residual(W);
  const Matrix M = -loss.op().adjoint(r);  // A*(b - A(W W^T))
  EigenResult eig = top_eigs(M, 1, options);
  if (eig.vectors.cols() < 1) {
    EigenOptions dense = options;
    dense.method = EigenMethod::dense;
    eig = top_eigs(M, 1, dense);
  }
  const Vector v = eig.vectors.col(0);
  Vector a;
  loss.op().apply_gram(Matrix(v), a);
  // Minimize ||r + t^2 A(v v^T)||^2 over t: t^2 = -<r, A(vv^T)> / ||A(vv^T)||^2.
  double t2 = a.squaredNorm() > 0 ? -r.dot(a) / a.squaredNorm() : 0.0;
  if (!(t2 > 0)) t2 = 1e-6 * std::max(W.squaredNorm(), 1e-12);
  Matrix U(d, s);
  U.leftCols(s - 1) = W;
  U.col(s - 1) = std::sqrt(t2) * v;
  return U;
}

}  // namespace

std::string BestRankOptions::validate() const {
  std::ostringstream s;
  if (restarts < 0) s << "restarts must be >= 0, got " << restarts;
  else if (max_iterations < 1) s << "max_iterations must be >= 1, got " << max_iterations;
  else if (lbfgs_memory < 1) s << "lbfgs_memory must be >= 1, got " << lbfgs_memory;
  else if (!(lbfgs_tol > 0)) s << "lbfgs_tol must be > 0, got " << lbfgs_tol;
  else if (newton_steps < 0) s << "newton_steps must be >= 0, got " << newton_steps;
  else if (!(gradient_tol > 0)) s << "gradient_tol must be > 0, got " << gradient_tol;
  else if (!(certify_gradient > 0)) s << "certify_gradient must be > 0, got " << certify_gradient;
  else if (!(certify_curvature >= 0)) s << "certify_curvature must be >= 0, got " << certify_curvature;
  else if (!(certify_spread > 0)) s << "certify_spread must be > 0, got " << certify_spread;
  else if (auto e = eigen.validate(); !e.empty()) s << "eigen." << e;
  return s.str();
}

HorizontalHessian horizontal_hessian(const SensingLoss& loss, const Matrix& U, const EigenOptions& options) {
  if (U.rows() != loss.op().dim())
    throw std::invalid_argument("horizontal_hessian(): expected a factor with d = " +
                                std::to_string(loss.op().dim()) + " rows, got " +
                                std::to_string(U.rows()));
  const Index d = U.rows(), s = U.cols(), n = d * s;
  const Matrix Qv = vertical_basis(U);
  HorizontalHessian h;
  h.dimension = n - Qv.cols();
  if (h.dimension <= 0) {
    h.converged = true;
    h.method = "empty";
    return h;
  }
  const bool dense = options.method == EigenMethod::dense ||
                     (options.method == EigenMethod::automatic && n <= options.dense_limit);
  const SymmetricOperator PHP = [&](const Vector& x, Vector& y) {
    y = project_horizontal(Qv, hvp(loss, U, project_horizontal(Qv, x)));
  };
  if (dense) {
    h.method = "dense";
    const Matrix H = dense_matrix_of([&](const Vector& x, Vector& y) { y = hvp(loss, U, x); }, n);
    // A basis of the horizontal space: complete Qv to an orthonormal basis.
    Matrix B;
    if (Qv.cols() == 0) {
      B = Matrix::Identity(n, n);
    } else {
      Eigen::HouseholderQR<Matrix> qr(Qv);
      const Matrix Q = qr.householderQ();
      B = Q.rightCols(h.dimension);
    }
    const Matrix Hh = B.transpose() * H * B;
    Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (Hh + Hh.transpose()), Eigen::EigenvaluesOnly);
    h.min = eig.eigenvalues()[0];
    h.max = eig.eigenvalues()[h.dimension - 1];
    h.converged = eig.info() == Eigen::Success;
    return h;
  }
  h.method = "lanczos";
  EigenOptions lanczos = options;
  lanczos.method = EigenMethod::lanczos;
  EigenResult top = extreme_eigenpairs(PHP, n, 1, EigenEnd::largest, lanczos);
  h.max = top.values.size() ? top.values[0] : std::numeric_limits<double>::quiet_NaN();
  // Lift the vertical directions above the spectrum, then ask for the smallest.
  const double beta = 2.0 * std::abs(h.max) + 1.0;
  const SymmetricOperator lifted = [&](const Vector& x, Vector& y) {
    PHP(x, y);
    if (Qv.cols() > 0) y += beta * (Qv * (Qv.transpose() * x));
  };
  EigenResult bottom = extreme_eigenpairs(lifted, n, 1, EigenEnd::smallest, lanczos);
  h.min = bottom.values.size() ? bottom.values[0] : std::numeric_limits<double>::quiet_NaN();
  h.converged = top.converged && bottom.converged;
  h.message = top.converged ? bottom.message : top.message;
  return h;
}

Matrix truncated_psd(const Matrix& Z, int s) {
  if (Z.rows() != Z.cols()) throw std::invalid_argument("truncated_psd(): expected a square matrix");
  if (s < 0) throw std::invalid_argument("truncated_psd(): expected s >= 0, got " + std::to_string(s));
  const Index d = Z.rows();
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (Z + Z.transpose()));
  Matrix out = Matrix::Zero(d, d);
  for (Index k = 0; k < std::min<Index>(s, d); ++k) {
    const Index j = d - 1 - k;
    const double l = eig.eigenvalues()[j];
    if (l > 0) out += l * eig.eigenvectors().col(j) * eig.eigenvectors().col(j).transpose();
  }
  return out;
}

BestRankSolution best_rank_solution(const SensingLoss& loss, int s, const BestRankOptions& o,
                                    const Matrix* warm) {
  if (auto problem = o.validate(); !problem.empty())
    throw std::invalid_argument("best_rank_solution(): " + problem);
  const Index d = loss.op().dim();
  if (s < 1 || s > d)
    throw std::invalid_argument("best_rank_solution(): expected 1 <= s <= d = " + std::to_string(d) +
                                ", got s = " + std::to_string(s));
  if (warm && (warm->rows() != d || warm->cols() != s - 1))
    throw std::invalid_argument("best_rank_solution(): the warm start must be d x (s - 1) = " +
                                std::to_string(d) + " x " + std::to_string(s - 1));
  const double ab = adjoint_norm(loss);
  Rng rng(Rng::derive_seed(o.seed, static_cast<std::uint64_t>(s)));

  std::vector<Matrix> starts;
  const Matrix spectral = spectral_start(loss, s, o.eigen);
  starts.push_back(spectral);
  if (warm && s > 1) starts.push_back(greedy_start(loss, *warm, o.eigen));
  const double norm = std::max(spectral.norm(), 1e-12);
  for (int i = 0; i < o.restarts; ++i) {
    if (i % 2 == 0) {
      Matrix P = rng.normal_matrix(d, s);
      starts.push_back(spectral + 0.3 * norm / std::sqrt(static_cast<double>(d * s)) * P);
    } else {
      Matrix G = rng.normal_matrix(d, s);
      starts.push_back(norm / G.norm() * G);
    }
  }

  BestRankSolution best;
  best.s = s;
  best.starts = static_cast<int>(starts.size());
  std::vector<Matrix> finals;
  for (const auto& U0 : starts) {
    Matrix U = lbfgs(loss, U0, o, ab);
    U = newton_polish(loss, U, o, ab);
    best.start_values.push_back(loss.value(U));
    finals.push_back(std::move(U));
  }
  const auto best_it = std::min_element(best.start_values.begin(), best.start_values.end());
  const std::size_t ib = static_cast<std::size_t>(best_it - best.start_values.begin());
  best.factor = finals[ib];
  best.Z = best.factor * best.factor.transpose();
  best.value = best.start_values[ib];
  best.training_error = loss.training_error(best.factor);
  Matrix grad;
  loss.gradient(best.factor, grad);
  best.gradient_norm = grad.norm();
  best.relative_gradient = relative_gradient_of(loss, best.gradient_norm, best.factor, ab);
  const double floor = 1e-9 * best.value + 1e-14 * 0.5 * loss.c() * loss.data().squaredNorm();
  for (std::size_t k = 0; k < finals.size(); ++k) {
    best.value_spread = std::max(best.value_spread, best.start_values[k] - best.value);
    if (best.start_values[k] - best.value <= floor) {
      ++best.agreeing_starts;
      best.solution_spread =
          std::max(best.solution_spread, (finals[k] * finals[k].transpose() - best.Z).norm());
    }
  }
  best.hessian = horizontal_hessian(loss, best.factor, o.eigen);
  best.degenerate = !(best.hessian.min > o.certify_curvature * std::abs(best.hessian.max));
  const bool grad_ok = best.relative_gradient <= o.certify_gradient;
  const bool spread_ok =
      best.agreeing_starts >= 2 && best.solution_spread <= o.certify_spread * std::max(best.Z.norm(), 1e-300);
  best.certified = grad_ok && !best.degenerate && best.hessian.converged && spread_ok;
  std::ostringstream m;
  m.precision(3);
  m << "s = " << s << ": relative gradient " << best.relative_gradient << ", horizontal Hessian in ["
    << best.hessian.min << ", " << best.hessian.max << "] (dim " << best.hessian.dimension << "), "
    << best.agreeing_starts << "/" << best.starts << " starts agree (Z spread " << best.solution_spread
    << ", value spread " << best.value_spread << ")";
  if (best.certified) m << ": certified strict local minimum, reproduced across starts";
  else if (!grad_ok) m << ": NOT certified (gradient too large)";
  else if (best.hessian.min < 0) m << ": NOT certified (a saddle: negative curvature)";
  else if (best.degenerate) m << ": degenerate (flat horizontal direction; s may exceed the rank of the best fit)";
  else if (!best.hessian.converged) m << ": NOT certified (Hessian eigensolver: " << best.hessian.message << ")";
  else m << ": NOT certified (starts disagree)";
  best.message = m.str();
  return best;
}

std::vector<BestRankSolution> best_rank_solutions(const SensingLoss& loss, int s_max,
                                                  const BestRankOptions& options) {
  const Index d = loss.op().dim();
  if (s_max < 1 || s_max > d)
    throw std::invalid_argument("best_rank_solutions(): expected 1 <= s_max <= d = " +
                                std::to_string(d) + ", got " + std::to_string(s_max));
  std::vector<BestRankSolution> out;
  for (int s = 1; s <= s_max; ++s) {
    const Matrix* warm = out.empty() ? nullptr : &out.back().factor;
    out.push_back(best_rank_solution(loss, s, options, warm));
  }
  return out;
}

}  // namespace flowsense
