#include "flowsense/analysis/licq.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace flowsense {

namespace {
void require_rows(const SensingOperator& op, const Matrix& U, const char* who) {
  if (U.rows() != op.dim())
    throw std::invalid_argument(std::string(who) + ": expected a factor with d = " +
                                std::to_string(op.dim()) + " rows, got " + std::to_string(U.rows()));
}
}  // namespace

Vector dg_apply(const SensingOperator& op, const Matrix& U, const Matrix& Delta) {
  require_rows(op, U, "dg_apply()");
  if (Delta.rows() != U.rows() || Delta.cols() != U.cols())
    throw std::invalid_argument("dg_apply(): expected Delta of the shape of U (" +
                                std::to_string(U.rows()) + " x " + std::to_string(U.cols()) + ")");
  Matrix Y;
  Y.noalias() = Delta * U.transpose();
  const Matrix sym = 0.5 * (Y + Y.transpose());
  Vector y;
  op.apply(sym, y);
  return y;
}

Matrix dg_adjoint(const SensingOperator& op, const Matrix& U, const Vector& delta) {
  require_rows(op, U, "dg_adjoint()");
  if (delta.size() != op.measurements())
    throw std::invalid_argument("dg_adjoint(): expected delta of length m = " +
                                std::to_string(op.measurements()) + ", got " +
                                std::to_string(delta.size()));
  Matrix out;
  op.adjoint_times(delta, U, out);
  return out;
}

SymmetricOperator licq_operator_from_gram(const SensingOperator& op, const Matrix& X) {
  if (X.rows() != op.dim() || X.cols() != op.dim())
    throw std::invalid_argument("licq_operator_from_gram(): expected X of size d x d, d = " +
                                std::to_string(op.dim()));
  return [&op, X](const Vector& delta, Vector& y) {
    Matrix S;
    op.adjoint(delta, S);
    Matrix SX;
    SX.noalias() = S * X;
    const Matrix sym = 0.5 * (SX + SX.transpose());
    op.apply(sym, y);
  };
}

Matrix licq_gram(const SensingOperator& op, const Matrix& U) {
  require_rows(op, U, "licq_gram()");
  const Matrix X = U * U.transpose();
  return dense_matrix_of(licq_operator_from_gram(op, X), op.measurements());
}

LicqMargin licq_margin_from_gram(const SensingOperator& op, const Matrix& X,
                                 const EigenOptions& options) {
  const Index m = op.measurements();
  EigenResult eig =
      extreme_eigenpairs(licq_operator_from_gram(op, X), m, 1, EigenEnd::smallest, options);
  LicqMargin result;
  result.method = eig.method;
  result.applications = eig.applications;
  result.converged = eig.converged;
  result.message = eig.message;
  if (eig.values.size() > 0) {
    result.lambda_min = eig.values[0];
    result.sigma_m = std::sqrt(std::max(eig.values[0], 0.0));
  }
  return result;
}

LicqMargin licq_margin(const SensingOperator& op, const Matrix& U, const EigenOptions& options) {
  require_rows(op, U, "licq_margin()");
  return licq_margin_from_gram(op, U * U.transpose(), options);
}

}  // namespace flowsense
