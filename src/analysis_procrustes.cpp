#include "flowsense/analysis/procrustes.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace flowsense {

namespace {
void require_same_rows(const Matrix& U1, const Matrix& U2, const char* who) {
  if (U1.rows() != U2.rows())
    throw std::invalid_argument(std::string(who) + ": expected factors with the same number of rows, got " +
                                std::to_string(U1.rows()) + " and " + std::to_string(U2.rows()));
}
}  // namespace

Matrix pad_columns(const Matrix& U, Index q) {
  if (q < U.cols())
    throw std::invalid_argument("pad_columns(): expected q >= " + std::to_string(U.cols()) +
                                ", got " + std::to_string(q));
  Matrix P = Matrix::Zero(U.rows(), q);
  P.leftCols(U.cols()) = U;
  return P;
}

Procrustes procrustes(const Matrix& U1, const Matrix& U2) {
  require_same_rows(U1, U2, "procrustes()");
  const Index q = std::max(U1.cols(), U2.cols());
  const Matrix A = pad_columns(U1, q), B = pad_columns(U2, q);
  Procrustes result;
  if (q == 0) {
    result.rotation.resize(0, 0);
    return result;
  }
  const Matrix C = B.transpose() * A;  // U2^T U1 = W Sigma V^T
  Eigen::JacobiSVD<Matrix> svd(C, Eigen::ComputeFullU | Eigen::ComputeFullV);
  result.rotation = svd.matrixU() * svd.matrixV().transpose();
  result.distance = (A - B * result.rotation).norm();
  return result;
}

double procrustes_distance(const Matrix& U1, const Matrix& U2) { return procrustes(U1, U2).distance; }

double procrustes_distance_nuclear(const Matrix& U1, const Matrix& U2) {
  require_same_rows(U1, U2, "procrustes_distance_nuclear()");
  const Index q = std::max(U1.cols(), U2.cols());
  if (q == 0) return 0.0;
  const Matrix C = pad_columns(U1, q).transpose() * pad_columns(U2, q);
  const double nuclear = Eigen::JacobiSVD<Matrix>(C).singularValues().sum();
  return std::sqrt(std::max(U1.squaredNorm() + U2.squaredNorm() - 2.0 * nuclear, 0.0));
}

}  // namespace flowsense
