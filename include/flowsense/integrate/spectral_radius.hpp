#pragma once
// How stiff is the flow at x? The stiff steppers need one number: the
// stiffness rate
//
//   rho(x) = max(0, -lambda_min(J(x))),   J = d(rhs)/dx,
//
// the length of the real negative spectrum that an explicit method must
// contain in its stability region. For the factor flow J = -H with H the
// Hessian of G_c (DESIGN.md: a gradient flow, symmetric, real spectrum), so
// rho = lambda_max(H): explicit Runge-Kutta methods need h <~ 3.3 / rho
// (dopri5's real stability interval is about [-3.3, 0]) and RKC with s
// stages reaches h <= beta(s) / rho with beta(s) ~ 0.65 s^2.
//
// Symmetric Jacobians (System::symmetric_jacobian): k steps of Lanczos with
// full reorthogonalization give Ritz values theta_min <= ... <= theta_max
// inside [lambda_min, lambda_max]; the residual |beta_k s_ki| of a Ritz pair
// bounds its distance to an eigenvalue, and we add it to stay on the safe
// side: rho = max(0, -(theta_min - |beta_k s_k,min|)). Extreme eigenvalues
// converge first, usually in 10-20 products.
//
// Other Jacobians (the Gram flow's is not symmetric): power iteration, whose
// ||J v|| converges to the spectral radius max |lambda|; rho is then the
// spectral radius, which bounds -lambda_min from above when the spectrum is
// real (a gradient flow in another metric) and is the usual RKC choice
// otherwise.
//
// Every product is one Jacobian-vector product of the system (see
// detail/jacobian.hpp). Starts are deterministic (a fixed-seed Rng), so runs
// repeat bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Eigenvalues>

#include "flowsense/core/random.hpp"
#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"

namespace flowsense {

struct SpectralEstimate {
  /// rho = max(0, -lambda_min(J)) (symmetric), or the spectral radius.
  double stiffness = 0.0;
  /// max |lambda(J)| (an estimate; for symmetric J, max(|theta_min|, |theta_max|) + residual).
  double spectral_radius = 0.0;
  /// Symmetric J only: the extreme Ritz values (NaN otherwise).
  double theta_min = std::numeric_limits<double>::quiet_NaN();
  double theta_max = std::numeric_limits<double>::quiet_NaN();
  int products = 0;        ///< Jacobian-vector products used
  bool symmetric = false;  ///< Lanczos (true) or power iteration (false)
  /// The vector that carries the estimate (Ritz vector of theta_min, or the
  /// power iterate): a warm start for the next estimate.
  Matrix vector;
};

namespace detail {

inline Matrix spectral_start(const Matrix& shape, const Matrix* warm) {
  Rng rng(0x5eed5eedULL);  // fixed: estimates repeat bit for bit
  Matrix v = rng.normal_matrix(shape.rows(), shape.cols());
  v /= v.norm();
  if (warm && warm->rows() == shape.rows() && warm->cols() == shape.cols() && warm->norm() > 0)
    v += *warm / warm->norm();  // keep the old direction, but not only it
  return v / v.norm();
}

inline double frob(const Matrix& a, const Matrix& b) { return (a.array() * b.array()).sum(); }

}  // namespace detail

/// Lanczos on a symmetric operator jac(V, out): at most `steps` products,
/// fewer when the lowest Ritz value has converged (residual < 1e-3 |theta|).
template <class Jac>
SpectralEstimate lanczos_extremes(const Jac& jac, const Matrix& start, int steps) {
  SpectralEstimate est;
  est.symmetric = true;
  const Index n = start.size();
  steps = static_cast<int>(std::min<Index>(std::max(steps, 2), n));
  std::vector<Matrix> Q;
  std::vector<double> alpha, beta;
  Q.push_back(start / start.norm());
  Matrix w;
  Eigen::SelfAdjointEigenSolver<Matrix> eig;
  double res_min = 0, res_max = 0;
  for (int j = 0; j < steps; ++j) {
    jac(Q.back(), w);
    ++est.products;
    const double a = detail::frob(Q.back(), w);
    alpha.push_back(a);
    // Full reorthogonalization (twice is enough): k <= a few dozen vectors.
    for (int pass = 0; pass < 2; ++pass)
      for (const Matrix& q : Q) w -= detail::frob(q, w) * q;
    const double b = w.norm();
    const auto k = static_cast<Index>(alpha.size());
    Matrix T = Matrix::Zero(k, k);
    for (Index i = 0; i < k; ++i) {
      T(i, i) = alpha[static_cast<std::size_t>(i)];
      if (i + 1 < k) T(i, i + 1) = T(i + 1, i) = beta[static_cast<std::size_t>(i)];
    }
    eig.compute(T);
    const double scale = std::max(eig.eigenvalues().cwiseAbs().maxCoeff(), 1e-300);
    res_min = std::abs(b * eig.eigenvectors()(k - 1, 0));
    res_max = std::abs(b * eig.eigenvectors()(k - 1, k - 1));
    est.theta_min = eig.eigenvalues()(0);
    est.theta_max = eig.eigenvalues()(k - 1);
    const bool invariant = b <= 1e-12 * scale;  // the Krylov space is invariant: exact
    const bool converged = j >= 3 && res_min <= 1e-3 * scale && res_max <= 1e-2 * scale;
    if (invariant || converged || j + 1 == steps) {
      if (invariant) res_min = res_max = 0;
      Matrix ritz = Matrix::Zero(start.rows(), start.cols());
      for (Index i = 0; i < k; ++i) ritz += eig.eigenvectors()(i, 0) * Q[static_cast<std::size_t>(i)];
      est.vector = ritz;
      break;
    }
    beta.push_back(b);
    Q.push_back(w / b);
  }
  est.stiffness = std::max(0.0, -(est.theta_min - res_min));
  est.spectral_radius = std::max(std::abs(est.theta_min) + res_min, std::abs(est.theta_max) + res_max);
  return est;
}

/// Power iteration on any operator jac(V, out): ||J v|| for unit v converges
/// to max |lambda| (from below, for normal J). Stops after `iterations`
/// products or when the estimate changes by less than 1%.
template <class Jac>
SpectralEstimate power_iteration(const Jac& jac, const Matrix& start, int iterations) {
  SpectralEstimate est;
  Matrix v = start / start.norm(), w;
  double previous = 0;
  for (int j = 0; j < std::max(iterations, 2); ++j) {
    jac(v, w);
    ++est.products;
    const double r = w.norm();
    if (!(r > 0) || !std::isfinite(r)) {
      est.spectral_radius = std::isfinite(r) ? 0.0 : r;
      break;
    }
    v = w / r;
    est.spectral_radius = r;
    if (j >= 2 && std::abs(r - previous) <= 0.01 * r) break;
    previous = r;
  }
  est.vector = v;
  est.stiffness = est.spectral_radius;
  return est;
}

/// The stiffness of `system` at x: Lanczos if the system declares a
/// symmetric Jacobian, power iteration otherwise. Counts products in
/// *counter; `warm` (may be null) is a previous estimate's vector.
template <class System>
SpectralEstimate estimate_stiffness(System& system, const Matrix& x, int iterations,
                                    std::uint64_t* counter, const Matrix* warm = nullptr) {
  const detail::FrozenJacobian<System> jac(system, x, counter);
  const Matrix start = detail::spectral_start(x, warm);
  if constexpr (detail::has_symmetric_jacobian<System>())
    return lanczos_extremes(jac, start, iterations);
  else
    return power_iteration(jac, start, iterations);
}

}  // namespace flowsense
