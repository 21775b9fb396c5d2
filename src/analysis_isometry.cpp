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

/// The k leading eigenvectors (by |eigenvalue|) of a symmetric matrix.
Matrix dominant_subspace(const Matrix& Y, Index k) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (Y + Y.transpose()));
  const Index d = Y.rows();
  std::vector<Index> order(d);
  for (Index i = 0; i < d; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    return std::abs(eig.eigenvalues()[a]) > std::abs(eig.eigenvalues()[b]);
  });
  Matrix W(d, k);
  for (Index j = 0; j < k; ++j) W.col(j) = eig.eigenvectors().col(order[j]);
  return W;
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

SearchResult search_from(const SensingOperator& op, Matrix W, bool minimize,
                         const IsometryOptions& o) {
  Core core = best_core(op, W, minimize);
  double eta = 0.25 / std::max(std::abs(core.value), 1e-300);
  for (int it = 0; it < o.max_iterations; ++it) {
    const Matrix X = W * core.S * W.transpose();
    Vector a;
    op.apply(X, a);
    Matrix AX;
    op.adjoint(a, AX);
    Matrix G = 4.0 * AX * W * core.S;
    G -= W * (W.transpose() * G);  // Grassmann tangent
    const double g2 = G.squaredNorm();
    if (!(g2 > 0) || g2 <= 1e-28 * core.value * core.value) break;
    const double sign = minimize ? -1.0 : 1.0;
    bool accepted = false;
    for (int half = 0; half < 50; ++half) {
      Matrix Wn = orthonormalize(W + sign * eta * G);
      Core cn = best_core(op, Wn, minimize);
      const double gain = minimize ? core.value - cn.value : cn.value - core.value;
      if (gain >= 1e-4 * eta * g2) {
        const double rel = gain / std::max(std::abs(core.value), 1e-300);
        W = std::move(Wn);
        core = std::move(cn);
        accepted = true;
        eta *= 2.0;
        if (rel < o.tol) it = o.max_iterations;  // converged
        break;
      }
      eta *= 0.5;
    }
    if (!accepted) break;
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

  std::vector<Matrix> starts_min, starts_max;
  Rng rng(o.seed);
  if (k == d) {
    // Every symmetric matrix qualifies: one exact evaluation per end.
    starts_min.push_back(Matrix::Identity(d, d));
    starts_max.push_back(Matrix::Identity(d, d));
  } else {
    for (int i = 0; i < o.random_starts; ++i) {
      starts_min.push_back(orthonormalize(rng.normal_matrix(d, k)));
      starts_max.push_back(orthonormalize(rng.normal_matrix(d, k)));
    }
    if (o.spectral_starts > 0) {
      const Index D = packed_size(d);
      const Index nev = std::min<Index>(o.spectral_starts, D);
      const SymmetricOperator N = normal_operator(op);
      for (int end = 0; end < 2; ++end) {
        EigenResult eig = extreme_eigenpairs(N, D, nev, end == 0 ? EigenEnd::smallest : EigenEnd::largest,
                                             o.eigen);
        for (Index j = 0; j < eig.vectors.cols(); ++j) {
          Matrix Y;
          unpack_symmetric(eig.vectors.col(j), d, Y);
          (end == 0 ? starts_min : starts_max).push_back(dominant_subspace(Y, k));
        }
      }
    }
    for (const auto& M : extra_starts) {
      starts_min.push_back(dominant_subspace(M, k));
      starts_max.push_back(dominant_subspace(M, k));
    }
  }

  IsometryEstimate est;
  est.rank_bound = k;
  est.starts = static_cast<int>(starts_min.size());
  est.min_ratio = std::numeric_limits<double>::infinity();
  est.max_ratio = -std::numeric_limits<double>::infinity();
  for (const auto& W : starts_min) {
    SearchResult r = search_from(op, W, true, o);
    if (r.value < est.min_ratio) {
      est.min_ratio = r.value;
      est.argmin = r.X;
    }
  }
  for (const auto& W : starts_max) {
    SearchResult r = search_from(op, W, false, o);
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
