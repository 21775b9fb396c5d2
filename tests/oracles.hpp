#pragma once
// Test oracles: independent references that the numerical tests compare the
// library against. Nothing here calls the code under test on the path it
// checks (the dense operator never packs, the closed form never steps an
// ODE), so an agreement is evidence, not a tautology.
//
//   DenseSensing           A(X)_i = s <A_i, X>, A*(y) = s sum_i y_i A_i from
//                          the m full d x d matrices of a GaussianOperator
//   FullObservationFlow    the exact solution of U' = (Z - UU^T) U (DESIGN.md)
//   five_point_derivative  d/de f(x + e v) at e = 0, exact for quartics
//   relative_error         ||a - b||_F / ||b||_F
//   CubicCollapse          x' = -x^3 entrywise, x(t) = x0 / sqrt(1 + 2 x0^2 t):
//                          the self-similar collapse of a large start
//
// Header only, for any test file (include "oracles.hpp").
#include <algorithm>
#include <cstdint>
#include <memory>
#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <vector>

#include <Eigen/Dense>

#include "flowsense/core/random.hpp"
#include "flowsense/core/types.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/problem/gaussian_operator.hpp"

namespace flowsense::oracle {

inline constexpr double unit_roundoff = std::numeric_limits<double>::epsilon() / 2;

/// gamma_n = n u / (1 - n u): a computed sum of n products is within
/// gamma_n * sum |terms| of the exact one (Higham, Accuracy and Stability
/// of Numerical Algorithms, 2nd ed., section 3.1).
inline double gamma_n(double n) { return n * unit_roundoff / (1 - n * unit_roundoff); }

/// n independent standard normal entries from Rng(seed).
inline Vector normal_vector(Index n, std::uint64_t seed) {
  Rng rng(seed);
  Vector x(n);
  for (Index i = 0; i < n; ++i) x[i] = rng.normal();
  return x;
}

/// How many entries of `got` (= A v - b computed in double; b null: A v)
/// are farther from the long-double sum than gamma (|A| |v| + |b|),
/// Higham's bound for a computed sum in any order.
inline Index outside_higham_bound(const Matrix& A, const Vector& v, const Vector& got, double gamma,
                                  const Vector* b = nullptr) {
  Index bad = 0;
  for (Index i = 0; i < A.rows(); ++i) {
    long double s = b ? -static_cast<long double>((*b)[i]) : 0, a = b ? std::abs((*b)[i]) : 0;
    for (Index j = 0; j < A.cols(); ++j) {
      s += static_cast<long double>(A(i, j)) * v[j];
      a += std::abs(static_cast<long double>(A(i, j)) * v[j]);
    }
    if (!(std::abs(got[i] - s) <= gamma * a)) ++bad;
  }
  return bad;
}

/// A double that Catch prints in scientific notation (Catch's own format is
/// fixed-point with 10 decimals, which shows 3e-12 as 0.0): write
/// CHECK(Sci{error} < 1e-8) to see the measured error in the test output.
struct Sci {
  double value;
};
inline std::ostream& operator<<(std::ostream& os, Sci x) {
  const auto flags = os.flags();
  const auto precision = os.precision();
  os << std::scientific;
  os.precision(3);
  os << x.value;
  os.flags(flags);
  os.precision(precision);
  return os;
}
inline bool operator<(Sci a, double b) { return a.value < b; }
inline bool operator<=(Sci a, double b) { return a.value <= b; }
inline bool operator>(Sci a, double b) { return a.value > b; }
inline bool operator>=(Sci a, double b) { return a.value >= b; }
inline bool operator<(Sci a, Sci b) { return a.value < b.value; }
inline bool operator<=(Sci a, Sci b) { return a.value <= b.value; }

/// ||a - b||_F / ||b||_F (or ||a - b||_F when b = 0).
inline double relative_error(const Matrix& a, const Matrix& b) {
  const double nb = b.norm();
  return nb > 0 ? (a - b).norm() / nb : (a - b).norm();
}
inline double relative_error(const Vector& a, const Vector& b) {
  const double nb = b.norm();
  return nb > 0 ? (a - b).norm() / nb : (a - b).norm();
}

/// <A, B>_F on full matrices.
inline double frobenius_inner(const Matrix& A, const Matrix& B) {
  return (A.array() * B.array()).sum();
}

// ---------------------------------------------------------------------------
// Dense reference of a Gaussian sensing operator.
// ---------------------------------------------------------------------------

/// x' = -x^3 entrywise (the scalar flow far from the data: self-similar,
/// x ~ (2t)^(-1/2)), with its Jacobian-vector product and closed form.
struct CubicCollapse {
  static constexpr bool symmetric_jacobian = true;
  void operator()(const Matrix& x, Matrix& dx, double) const { dx = (-x.array().cube()).matrix(); }
  void jacobian_vector(const Matrix& x, const Matrix& v, Matrix& out) const {
    out = (-3.0 * x.array().square() * v.array()).matrix();
  }
  static Matrix exact(const Matrix& x0, double t) {
    return (x0.array() / (1.0 + 2.0 * x0.array().square() * t).sqrt()).matrix();
  }
};

/// The operator as the papers write it: m full symmetric d x d matrices A_i
/// (GaussianOperator::sensing_matrix(i), unscaled) and the scale s. Every
/// product is a plain sum over the full d x d entries, with no packed
/// coordinates, so it shares no code with the operator's hot path.
struct DenseSensing {
  Index d = 0;
  double s = 1.0;
  std::vector<Matrix> A;

  explicit DenseSensing(const GaussianOperator& op) : d(op.dim()), s(op.scale_factor()) {
    A.reserve(static_cast<std::size_t>(op.measurements()));
    for (Index i = 0; i < op.measurements(); ++i) A.push_back(op.sensing_matrix(i));
  }

  Index m() const { return static_cast<Index>(A.size()); }

  /// A(X)_i = s <A_i, X>.
  Vector apply(const Matrix& X) const {
    Vector y(m());
    for (Index i = 0; i < m(); ++i) y[i] = s * frobenius_inner(A[static_cast<std::size_t>(i)], X);
    return y;
  }

  /// Sum_i s |<|A_i|, |X|>|: the scale of the terms in A(X)_i, for
  /// rounding-error bounds (|fl(x.y) - x.y| <= gamma_n sum |x_k y_k|).
  Vector apply_abs(const Matrix& X) const {
    Vector y(m());
    for (Index i = 0; i < m(); ++i)
      y[i] = s * frobenius_inner(A[static_cast<std::size_t>(i)].cwiseAbs(), X.cwiseAbs());
    return y;
  }

  /// A*(y) = s sum_i y_i A_i.
  Matrix adjoint(const Vector& y) const {
    Matrix S = Matrix::Zero(d, d);
    for (Index i = 0; i < m(); ++i) S += (s * y[i]) * A[static_cast<std::size_t>(i)];
    return S;
  }

  /// sum_i s |y_i| |A_i|: the entrywise scale of A*(y).
  Matrix adjoint_abs(const Vector& y) const {
    Matrix S = Matrix::Zero(d, d);
    for (Index i = 0; i < m(); ++i)
      S += (s * std::abs(y[i])) * A[static_cast<std::size_t>(i)].cwiseAbs();
    return S;
  }

  /// r = A(U U^T) - b.
  Vector residual(const Matrix& U, const Vector& b) const {
    return apply(U * U.transpose()) - b;
  }

  /// grad ||A(UU^T) - b||^2 = 4 A*(A(UU^T) - b) U: the gradient in paper
  /// 000 (3); (c/2)||r||^2 has gradient (c/2) times this.
  Matrix gradient_of_squared_residual(const Matrix& U, const Vector& b) const {
    return 4.0 * adjoint(residual(U, b)) * U;
  }
};

// ---------------------------------------------------------------------------
// Finite differences.
// ---------------------------------------------------------------------------

/// Five-point central difference of e -> f(e) at 0:
///   f'(0) ~ [f(-2e) - 8 f(-e) + 8 f(e) - f(2e)] / (12 e),
/// exact in exact arithmetic for polynomials of degree <= 4. The loss
/// G_c(U + eV) is a quartic in e and grad G_c(U + eV) a cubic, so the only
/// error left is rounding: about (18/12) * delta * max|f| / e when each f is
/// computed to a relative delta.
template <class F>
auto five_point_derivative(F&& f, double e) {
  auto fm2 = f(-2 * e), fm1 = f(-e), fp1 = f(e), fp2 = f(2 * e);
  return decltype(fp1)((fm2 - 8.0 * fm1 + 8.0 * fp1 - fp2) / (12.0 * e));
}

// ---------------------------------------------------------------------------
// The full-observation closed form.
// ---------------------------------------------------------------------------

/// (e^{x} - 1) / x, with its limit 1 at x = 0; accurate for every x
/// (expm1 has no cancellation near 0).
inline double expm1_over_x(double x) { return x == 0.0 ? 1.0 : std::expm1(x) / x; }

/// int_0^t e^{2 lambda s} ds = t * (e^{2 lambda t} - 1) / (2 lambda t), = t at lambda = 0.
inline double integral_exp2(double lambda, double t) { return t * expm1_over_x(2.0 * lambda * t); }

/// The exact solution of the full-observation factor flow (A = identity on
/// symmetric matrices, c = 1/2, G = (1/4)||UU^T - Z||_F^2):
///
///   U' = (Z - U U^T) U,   X = U U^T,   X' = Z X + X Z - 2 X^2.
///
/// Derivation (DESIGN.md, redone): put Y(t) = e^{Zt} U0 (d x p) and try
/// X = Y K^{-1} Y^T with K(0) = I. Since Y' = Z Y and (K^{-1})' = -K^{-1} K' K^{-1},
///   X' = Z X + X Z - Y K^{-1} K' K^{-1} Y^T,
/// which equals Z X + X Z - 2 X^2 = ZX + XZ - 2 Y K^{-1} (Y^T Y) K^{-1} Y^T iff
/// K' = 2 Y^T Y = 2 U0^T e^{2Zt} U0, i.e.
///   K(t) = I + 2 U0^T (int_0^t e^{2Zs} ds) U0  (K >= I, always invertible).
/// With Z = V diag(lambda) V^T, e^{Zt} = V diag(e^{lambda t}) V^T and
/// int_0^t e^{2Zs} ds = V diag(integral_exp2(lambda_i, t)) V^T, where a zero
/// eigenvalue gives exactly t.
///
/// Robust evaluation. For large t the formula mixes e^{lambda t} ~ e^{50}
/// with O(1) terms and K has condition ~ e^{2 lambda t}: a single shot would
/// lose all digits. The flow is a semigroup, X(t + tau) = Phi_tau(X(t)), and
/// for U(t) one may take Y K^{-1/2}-type factors: if K = L L^T (Cholesky) then
/// U_+ = e^{Z tau} U L^{-T} satisfies U_+ U_+^T = Y K^{-1} Y^T. So gram(t)
/// applies the exact formula over n equal pieces tau = t / n with
/// tau * max(|lambda|, ||X||_2) <= 1/4, where K's eigenvalues lie in [1, 2]
/// and e^{Z tau} in [e^{-1/4}, e^{1/4}]: every piece is perfectly conditioned
/// and the result is accurate to about n * (a few) unit roundoffs relative
/// to the flow's own conditioning. single_shot(t) is the unsplit formula, for
/// checking the splitting where both are accurate (small t).
class FullObservationFlow {
public:
  FullObservationFlow(const Matrix& Z, const Matrix& U0) : U0_(U0) {
    Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (Z + Z.transpose()));
    lambda_ = eig.eigenvalues();
    V_ = eig.eigenvectors();
    W0_ = V_.transpose() * U0;
    const double x0 = U0.squaredNorm();  // >= ||U0 U0^T||_2
    // The flow never leaves ||X||_2 <= max(||X0||_2, lambda_max(Z)): on the
    // top eigenvector of X, x' <= 2 x (lambda_max - x).
    rate_ = std::max({lambda_.cwiseAbs().maxCoeff(), x0, 1e-300});
  }

  /// X(t), evaluated piecewise (see the class comment).
  Matrix gram(double t) const {
    const auto n = static_cast<long>(std::ceil(4.0 * rate_ * t));
    const long pieces = std::max(1L, n);
    const double tau = t / static_cast<double>(pieces);
    Matrix W = W0_;
    for (long k = 0; k < pieces; ++k) W = step(W, tau);
    return V_ * (W * W.transpose()) * V_.transpose();
  }

  /// X(t) = Y K^{-1} Y^T in one shot (accurate only while K is well conditioned).
  Matrix single_shot(double t) const {
    const Index d = V_.rows();
    Vector e(d), f(d);
    for (Index i = 0; i < d; ++i) {
      e[i] = std::exp(lambda_[i] * t);
      f[i] = integral_exp2(lambda_[i], t);
    }
    const Matrix Y = e.asDiagonal() * W0_;
    const Matrix K = Matrix::Identity(W0_.cols(), W0_.cols()) +
                     2.0 * W0_.transpose() * f.asDiagonal() * W0_;
    const Matrix X = Y * K.ldlt().solve(Y.transpose());
    return V_ * X * V_.transpose();
  }

  /// The right-hand side Z X + X Z - 2 X^2 of the Gram flow, for checking
  /// that gram(t) solves the ODE.
  Matrix velocity(const Matrix& X) const {
    const Matrix Z = V_ * lambda_.asDiagonal() * V_.transpose();
    return Z * X + X * Z - 2.0 * X * X;
  }

  const Vector& eigenvalues() const { return lambda_; }

private:
  /// One exact piece in eigen coordinates: W -> e^{L tau} W L^{-T}, K = L L^T.
  Matrix step(const Matrix& W, double tau) const {
    const Index d = W.rows(), p = W.cols();
    Vector e(d), f(d);
    for (Index i = 0; i < d; ++i) {
      e[i] = std::exp(lambda_[i] * tau);
      f[i] = integral_exp2(lambda_[i], tau);
    }
    const Matrix K = Matrix::Identity(p, p) + 2.0 * W.transpose() * f.asDiagonal() * W;
    Eigen::LLT<Matrix> llt(K);
    // (e W) L^{-T}: solve L Z^T = (e W)^T for Z^T.
    const Matrix YT = (e.asDiagonal() * W).transpose();
    return llt.matrixL().solve(YT).transpose();
  }

  Matrix U0_;
  Vector lambda_;
  Matrix V_;
  Matrix W0_;
  double rate_;
};

/// A symmetric d x d matrix with the given spectrum in a random orthonormal basis.
inline Matrix with_spectrum(const std::vector<double>& eigenvalues, std::uint64_t seed) {
  const auto d = static_cast<Index>(eigenvalues.size());
  Rng rng(seed);
  const Matrix Q = Eigen::HouseholderQR<Matrix>(rng.normal_matrix(d, d)).householderQ();
  const Vector l = Eigen::Map<const Vector>(eigenvalues.data(), d);
  return Q * l.asDiagonal() * Q.transpose();
}

/// A case of the full-observation closed form: the target Z and the start U0.
struct ClosedFormSetup {
  const char* name;
  Matrix Z;
  Matrix U0;
};

/// The cases every stepper is checked on against FullObservationFlow.
inline std::vector<ClosedFormSetup> closed_form_setups() {
  return {
      // Paper 003's shape: PSD rank-2 Z (four numerically zero eigenvalues,
      // where int e^{2 lambda s} ds -> t), small full-rank start.
      {"PSD rank-2 Z, full-rank U0 with norm 0.1", planted_orthogonal(6, {1.0, 0.5}, 11),
       random_factor(6, 6, 6, 0.1, 12)},
      // An indefinite Z (a decaying direction, exact zeros in a rotated basis)
      // and a narrow factor p = 3 < d.
      {"indefinite Z, 6 x 3 U0 with norm 1", with_spectrum({1.0, 0.5, 0.0, 0.0, 0.0, -0.25}, 13),
       random_factor(6, 3, 3, 1.0, 14)},
  };
}

/// G with c = 1/2 under full observation of Z: the flow of the closed form.
inline SensingLoss full_observation_loss(const Matrix& Z) {
  return SensingLoss(Problem::noiseless(std::make_shared<FullObservation>(Z.rows()), Z), 0.5);
}

}  // namespace flowsense::oracle
