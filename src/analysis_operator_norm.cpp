#include "flowsense/analysis/operator_norm.hpp"

#include <cmath>

#include "flowsense/core/packed.hpp"

namespace flowsense {

SymmetricOperator normal_operator(const SensingOperator& op) {
  const Index d = op.dim();
  return [&op, d](const Vector& x, Vector& y) {
    Matrix X, S;
    unpack_symmetric(x, d, X);
    Vector a;
    op.apply(X, a);
    op.adjoint(a, S);
    pack_symmetric(S, y);
  };
}

Matrix packed_matrix(const SensingOperator& op) {
  const Index d = op.dim(), D = packed_size(d), m = op.measurements();
  Matrix M(m, D);
  Vector e = Vector::Zero(D), y;
  Matrix X;
  for (Index k = 0; k < D; ++k) {
    e[k] = 1.0;
    unpack_symmetric(e, d, X);
    op.apply(X, y);
    M.col(k) = y;
    e[k] = 0.0;
  }
  return M;
}

OperatorNorm operator_norm(const SensingOperator& op, const EigenOptions& options) {
  const Index D = packed_size(op.dim());
  EigenResult eig = extreme_eigenpairs(normal_operator(op), D, 1, EigenEnd::largest, options);
  OperatorNorm result;
  result.method = eig.method;
  result.applications = eig.applications;
  result.converged = eig.converged;
  result.message = eig.message;
  if (eig.values.size() > 0) {
    result.value = std::sqrt(std::max(eig.values[0], 0.0));
    unpack_symmetric(eig.vectors.col(0), op.dim(), result.maximizer);
  }
  return result;
}

}  // namespace flowsense
