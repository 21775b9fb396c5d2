#include "flowsense/analysis/isometry.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {

Matrix orthonormalize(const Matrix& M) {
  Eigen::HouseholderQR<Matrix> qr(M);
  return qr.householderQ() * Matrix::Identity(M.rows(), M.cols());
}

struct Core {
  double value = 0.0;
  Matrix S;
};

/// For orthonormal W: the extreme of ||A(W S W^T)||^2 over ||S||_F = 1.
Core best_core(const SensingOperator& op, const Matrix& W, bool minimize) {
  const Index k = W.cols();
  const Index n = k * (k + 1) / 2;
  Matrix B(op.measurements(), n);
  Vector e = Vector::Zero(n), y;
  Matrix E, X;
  for (Index j = 0; j < n; ++j) {
    e[j] = 1.0;
    unpack_symmetric(e, k, E);  // an orthonormal basis of Sym(k)
    X.noalias() = W * E * W.transpose();
    op.apply(X, y);
    B.col(j) = y;
    e[j] = 0.0;
  }
  const Matrix Q = B.transpose() * B;
  Eigen::SelfAdjointEigenSolver<Matrix> eig(Q);
  const Index j = minimize ? 0 : n - 1;
  Core c;
  c.value = eig.eigenvalues()[j];
  unpack_symmetric(eig.eigenvectors().col(j), k, c.S);
  return c;
}

struct SearchResult {
  double value;
  Matrix X;
};

/// The best rank-k approximation of a symmetric Y (k largest |eigenvalues|),
/// scaled to unit Frobenius norm, and its eigenvector basis W (d x k).
Matrix truncate_unit(const Matrix& Y, Index k, Matrix* basis = nullptr) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (Y + Y.transpose()));
  const Index d = Y.rows();
  std::vector<Index> order(d);
  for (Index i = 0; i < d; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    return std::abs(eig.eigenvalues()[a]) > std::abs(eig.eigenvalues()[b]);
  });
  Matrix W(d, k);
  Vector lam(k);
  for (Index j = 0; j < k; ++j) {
    W.col(j) = eig.eigenvectors().col(order[j]);
    lam[j] = eig.eigenvalues()[order[j]];
  }
  if (basis) *basis = W;
  const double n = lam.norm();
  if (!(n > 0)) return Matrix::Zero(d, d);
  return W * (lam / n).asDiagonal() * W.transpose();
}

double ratio_unit(const SensingOperator& op, const Matrix& X, Vector& a) {
  op.apply(X, a);
  return a.squaredNorm();
}

/// Phase 1: projected gradient on the unit sphere of rank-<=k symmetric
/// matrices (one apply and one adjoint per step, no k^2-sized solves).
/// Phase 2: the exact best core S on the final subspace, then Riemannian
/// gradient steps on the Grassmannian for small cores. Every iterate is a
/// feasible X, so the result is an attained ratio.
SearchResult search_from(const SensingOperator& op, Matrix X, Index k, bool minimize,
                         const IsometryOptions& o) {
  Vector a;
  double q = ratio_unit(op, X, a);
  double eta = 0.25 / std::max(q, 1e-300);
  const double sign = minimize ? -1.0 : 1.0;
  const Index n = k * (k + 1) / 2;
  // Phase 1 only finds the basin when the exact phase 2 follows.
  const double tol1 = n <= o.core_limit ? std::max(o.tol, 1e-6) : o.tol;
  // Small cores get the (stronger) Grassmann polish: phase 1 then only
  // needs to pick a basin.
  const int phase1 = n <= o.polish_limit ? std::min(o.max_iterations, 40) : o.max_iterations;
  int slow = 0;
  for (int it = 0; it < phase1; ++it) {
    Matrix NX;
    op.adjoint(a, NX);
    Matrix G = 2.0 * (NX - q * X);  // gradient of q on the sphere
    G = 0.5 * (G + G.transpose());
    const double g2 = G.squaredNorm();
    if (!(g2 > 0) || g2 <= 1e-28 * q * q) break;
    bool accepted = false;
    for (int half = 0; half < 40; ++half) {
      Matrix Xn = truncate_unit(X + sign * eta * G, k);
      Vector an;
      const double qn = ratio_unit(op, Xn, an);
      const double gain = minimize ? q - qn : qn - q;
      if (gain > 0) {
        slow = gain <= tol1 * std::max(std::abs(q), 1e-300) ? slow + 1 : 0;
        X = std::move(Xn);
        a = std::move(an);
        q = qn;
        accepted = true;
        eta *= 2.0;
        break;
      }
      eta *= 0.5;
    }
    if (!accepted || slow >= 3) break;
  }
  if (n > o.core_limit) return {q, X};

  // Phase 2: exact core on span(X) (never worse: X itself is a candidate).
  Matrix W;
  truncate_unit(X, k, &W);
  Core core = best_core(op, W, minimize);
  if ((minimize && core.value > q) || (!minimize && core.value < q)) return {q, X};
  if (n <= o.polish_limit) {
    double step = 0.25 / std::max(std::abs(core.value), 1e-300);
    for (int it = 0; it < o.polish_iterations; ++it) {
      const Matrix Xc = W * core.S * W.transpose();
      Vector ac;
      op.apply(Xc, ac);
      Matrix AX;
      op.adjoint(ac, AX);
      Matrix G = 4.0 * AX * W * core.S;
      G -= W * (W.transpose() * G);  // Grassmann tangent
      const double g2 = G.squaredNorm();
      if (!(g2 > 0) || g2 <= 1e-28 * core.value * core.value) break;
      bool accepted = false;
      for (int half = 0; half < 50; ++half) {
        Matrix Wn = orthonormalize(W + sign * step * G);
        Core cn = best_core(op, Wn, minimize);
        const double gain = minimize ? core.value - cn.value : cn.value - core.value;
        if (gain >= 1e-4 * step * g2) {
          const double rel = gain / std::max(std::abs(core.value), 1e-300);
          W = std::move(Wn);
          core = std::move(cn);
          accepted = true;
          step *= 2.0;
          if (rel < o.tol) it = o.polish_iterations;  // converged
          break;
        }
        step *= 0.5;
      }
      if (!accepted) break;
    }
  }
  return {core.value, W * core.S * W.transpose()};
}

}  // namespace

std::string IsometryOptions::validate() const {
  std::ostringstream s;
  if (random_starts < 0) s << "random_starts must be >= 0, got " << random_starts;
  else if (spectral_starts < 0) s << "spectral_starts must be >= 0, got " << spectral_starts;
  else if (random_starts + spectral_starts < 1) s << "need at least one start (random_starts + spectral_starts >= 1)";
  else if (max_iterations < 1) s << "max_iterations must be >= 1, got " << max_iterations;
  else if (!(tol > 0)) s << "tol must be > 0, got " << tol;
  else if (core_limit < 0) s << "core_limit must be >= 0, got " << core_limit;
  else if (polish_limit < 0) s << "polish_limit must be >= 0, got " << polish_limit;
  else if (polish_iterations < 0) s << "polish_iterations must be >= 0, got " << polish_iterations;
  else if (auto e = eigen.validate(); !e.empty()) s << "eigen." << e;
  return s.str();
}

double isometry_ratio(const SensingOperator& op, const Matrix& X) {
  const Matrix sym = 0.5 * (X + X.transpose());
  const double n2 = sym.squaredNorm();
  if (!(n2 > 0)) return 0.0;
  Vector y;
  op.apply(sym, y);
  return y.squaredNorm() / n2;
}

IsometryEstimate estimate_isometry(const SensingOperator& op, Index k, const IsometryOptions& o,
                                   const std::vector<Matrix>& extra_starts) {
  if (auto problem = o.validate(); !problem.empty())
    throw std::invalid_argument("estimate_isometry(): " + problem);
  const Index d = op.dim();
  if (k < 1 || k > d)
    throw std::invalid_argument("estimate_isometry(): expected 1 <= k <= d = " + std::to_string(d) +
                                ", got k = " + std::to_string(k));
  for (const auto& M : extra_starts)
    if (M.rows() != d || M.cols() != d)
      throw std::invalid_argument("estimate_isometry(): extra starts must be d x d, d = " +
                                  std::to_string(d));

  // Starts are unit-norm symmetric matrices of rank <= k.
  std::vector<Matrix> starts_min, starts_max;
  Rng rng(o.seed);
  auto random_start = [&] {
    Eigen::HouseholderQR<Matrix> qr(rng.normal_matrix(d, k));
    const Matrix W = qr.householderQ() * Matrix::Identity(d, k);
    Matrix S = rng.normal_matrix(k, k);
    S = 0.5 * (S + S.transpose());
    return truncate_unit(W * S * W.transpose(), k);
  };
  for (int i = 0; i < o.random_starts; ++i) {
    starts_min.push_back(random_start());
    starts_max.push_back(random_start());
  }
  if (o.spectral_starts > 0) {
    const Index D = packed_size(d);
    const Index nev = std::min<Index>(o.spectral_starts, D);
    const SymmetricOperator N = normal_operator(op);
    for (int end = 0; end < 2; ++end) {
      EigenResult eig = extreme_eigenpairs(N, D, nev, end == 0 ? EigenEnd::smallest : EigenEnd::largest, o.eigen);
      for (Index j = 0; j < eig.vectors.cols(); ++j) {
        Matrix Y;
        unpack_symmetric(eig.vectors.col(j), d, Y);
        (end == 0 ? starts_min : starts_max).push_back(truncate_unit(Y, k));
      }
    }
  }
  for (const auto& M : extra_starts) {
    if (!(M.norm() > 0)) continue;
    starts_min.push_back(truncate_unit(M, k));
    starts_max.push_back(truncate_unit(M, k));
  }
  IsometryEstimate est;
  est.rank_bound = k;
  est.starts = static_cast<int>(starts_min.size());
  est.min_ratio = std::numeric_limits<double>::infinity();
  est.max_ratio = -std::numeric_limits<double>::infinity();
  for (const auto& X0 : starts_min) {
    SearchResult r = search_from(op, X0, k, true, o);
    if (r.value < est.min_ratio) {
      est.min_ratio = r.value;
      est.argmin = r.X;
    }
  }
  for (const auto& X0 : starts_max) {
    SearchResult r = search_from(op, X0, k, false, o);
    if (r.value > est.max_ratio) {
      est.max_ratio = r.value;
      est.argmax = r.X;
    }
  }
  // Report the ratios at the witnesses themselves (what a reader can recheck).
  est.min_ratio = std::max(isometry_ratio(op, est.argmin), 0.0);
  est.max_ratio = isometry_ratio(op, est.argmax);
  est.alpha_upper = std::sqrt(est.min_ratio);
  est.rip_delta_lower = std::max(1.0 - est.min_ratio, est.max_ratio - 1.0);
  std::ostringstream s;
  s << "inner estimates from " << est.starts << " starts per end: alpha_" << k << " <= "
    << est.alpha_upper << ", delta_" << k << " >= " << est.rip_delta_lower;
  est.message = s.str();
  return est;
}

}  // namespace flowsense
