#include "flowsense/problem/sensing_operator.hpp"

#include <stdexcept>
#include <string>

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

void SensingOperator::gram_jacobian(const Matrix& U, Matrix& Jr) const {
  // Column k = a + d j (unit E_k = e_a e_j^T): W = U E_k^T + E_k U^T puts
  // column j of U into column a and row a of W (twice on the diagonal).
  const Index d = U.rows(), p = U.cols();
  if (d != dim())
    throw std::invalid_argument("SensingOperator::gram_jacobian: expected a factor with d = " +
                                std::to_string(dim()) + " rows, got " + std::to_string(d));
  Jr.resize(measurements(), d * p);
  Matrix W(d, d);
  Vector y;
  for (Index j = 0; j < p; ++j)
    for (Index a = 0; a < d; ++a) {
      W.setZero();
      W.col(a) += U.col(j);
      W.row(a) += U.col(j).transpose();
      apply(W, y);
      Jr.col(a + d * j) = y;
    }
}

}  // namespace flowsense
