#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

void SensingOperator::apply_gram(const Matrix& U, Vector& y) const {
  Matrix X;
  X.noalias() = U * U.transpose();
  apply(X, y);
}

void SensingOperator::adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const {
  Matrix S;
  adjoint(y, S);
  out.noalias() = S * U;
}

}  // namespace flowsense
