#include "flowsense/loss/sensing_loss.hpp"

#include <stdexcept>
#include <string>

namespace flowsense {

SensingLoss::SensingLoss(std::shared_ptr<const SensingOperator> op, Vector b, double c)
    : op_(std::move(op)), b_(std::move(b)), c_(c) {
  if (!op_) throw std::invalid_argument("SensingLoss: expected an operator, got null");
  if (!(c_ > 0)) throw std::invalid_argument("SensingLoss: expected c > 0, got " + std::to_string(c_));
  if (b_.size() != op_->measurements())
    throw std::invalid_argument("SensingLoss: expected b of length m = " +
                                std::to_string(op_->measurements()) + ", got " +
                                std::to_string(b_.size()));
}

void SensingLoss::residual(const Matrix& U, Vector& r) const {
  op_->apply_gram(U, r);
  r -= b_;
}

Vector SensingLoss::residual(const Matrix& U) const {
  Vector r;
  residual(U, r);
  return r;
}

double SensingLoss::training_error(const Matrix& U) const { return residual(U).squaredNorm(); }

double SensingLoss::value(const Matrix& U) const { return 0.5 * c_ * training_error(U); }

double SensingLoss::value_and_gradient(const Matrix& U, Matrix& grad) const {
  Vector r;
  residual(U, r);
  op_->adjoint_times(r, U, grad);
  grad *= 2.0 * c_;
  return 0.5 * c_ * r.squaredNorm();
}

void SensingLoss::hessian_vector(const Matrix& U, const Matrix& V, Matrix& HV) const {
  Vector r;
  residual(U, r);
  Matrix sym;
  sym.noalias() = U * V.transpose();
  const Matrix S = sym + sym.transpose();  // U V^T + V U^T
  Vector a;
  op_->apply(S, a);
  Matrix first, second;
  op_->adjoint_times(a, U, first);
  op_->adjoint_times(r, V, second);
  HV = 2.0 * c_ * (first + second);
}

void SensingLoss::gram_velocity(const Matrix& X, Matrix& dX) const {
  Vector r;
  op_->apply(X, r);
  r -= b_;
  Matrix S;
  op_->adjoint(r, S);
  Matrix SX;
  SX.noalias() = S * X;
  dX = -2.0 * c_ * (SX + SX.transpose());
}

}  // namespace flowsense
