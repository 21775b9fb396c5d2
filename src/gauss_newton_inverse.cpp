#include "flowsense/flow/gauss_newton_inverse.hpp"

#include <cmath>

namespace flowsense {

GaussNewtonInverse::GaussNewtonInverse(const SensingLoss& loss, const Matrix& U) : loss_(&loss) { rebuild(U); }

void GaussNewtonInverse::rebuild(const Matrix& U) {
  U_ = U;
  loss_->residual_adjoint(U, S_);
  loss_->residual_jacobian(U, Jr_);
  const Index m = Jr_.rows();
  G_.setZero(m, m);
  G_.selfadjointView<Eigen::Lower>().rankUpdate(Jr_);  // only the lower triangle is read below
  // G is singular when Jr has fewer than m independent rows (a low-rank U:
  // rank(Jr) <= 2 d r - r^2 for rank r). For a -> infinity I/a + G then
  // loses definiteness in floating point; a floor of 1e-13 of G's largest
  // diagonal entry only perturbs the null space of G, which Jr^T maps to 0.
  floor_ = m > 0 ? 1e-13 * G_.diagonal().maxCoeff() : 0.0;
  if (!(floor_ > 0)) floor_ = std::numeric_limits<double>::min();
  factored_a_ = std::numeric_limits<double>::quiet_NaN();
  factored_ok_ = false;
}

void GaussNewtonInverse::factor(double a) const {
  shifted_ = G_;
  shifted_.diagonal().array() += std::max(1.0 / a, floor_);
  llt_.compute(shifted_);  // reads the lower triangle
  factored_ok_ = llt_.info() == Eigen::Success;
  factored_a_ = a;
  ++factorizations_;
}

bool GaussNewtonInverse::prepare(double sigma, double& a) const {
  a = sigma * loss_->c();
  if (!(a > 0) || G_.rows() == 0) return false;
  if (!(a <= factored_a_ * shift_ratio && a >= factored_a_ / shift_ratio)) factor(a);
  return factored_ok_;  // else not positive definite in floating point: no preconditioning
}

void GaussNewtonInverse::jr(const Matrix& V, Vector& z) const {
  Matrix W;
  W.noalias() = U_ * V.transpose();
  const Matrix sym = W + W.transpose();
  loss_->apply(sym, z);
}

void GaussNewtonInverse::jr_transpose_half(const Vector& t, Matrix& out) const {
  loss_->adjoint_times(t, U_, out);
}

void GaussNewtonInverse::operator()(double sigma, const Matrix& V, Matrix& out) const {
  double a = 0;
  if (!prepare(sigma, a)) {
    out = V;
    return;
  }
  Vector z;
  jr(V, z);
  llt_.solveInPlace(z);
  jr_transpose_half(z, out);
  out = V - 2.0 * out;  // V - Jr^T t
}

void GaussNewtonInverse::solve_apply(double sigma, const Matrix& Y, Matrix& Q, Matrix& NQ) const {
  double a = 0;
  if (!prepare(sigma, a)) {
    Q = Y;
    if (a == 0) {  // N = I
      NQ = Y;
      return;
    }
    // Unpreconditioned: N Y = Y + a Jr^T Jr Y + 2a S Y.
    Vector z;
    jr(Y, z);
    jr_transpose_half(z, NQ);
    NQ = Y + (2.0 * a) * NQ;
    NQ.noalias() += (2.0 * a) * (S_ * Y);
    return;
  }
  Vector z, t;
  jr(Y, z);
  t = llt_.solve(z);
  Matrix half;
  jr_transpose_half(t, half);
  Q = Y - 2.0 * half;
  NQ = Y;
  NQ.noalias() += (2.0 * a) * (S_ * Q);
  // The Gauss-Newton remainder a (z - G t) - t vanishes (up to rounding)
  // when I/a + G is what was factored.
  const bool exact = a == factored_a_ && 1.0 / a >= floor_;
  if (!exact) {
    Vector e = z;
    e.noalias() -= G_.selfadjointView<Eigen::Lower>() * t;
    e = a * e - t;
    jr_transpose_half(e, half);
    NQ += 2.0 * half;
  }
}

}  // namespace flowsense
