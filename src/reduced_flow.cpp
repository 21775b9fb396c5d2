#include "flowsense/flow/reduced_flow.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace flowsense {

ReducedFactor reduce_initial_factor(const Matrix& U0, double rank_tol) {
  if (!(rank_tol >= 0 && rank_tol < 1))
    throw std::invalid_argument("reduce_initial_factor(): expected 0 <= rank_tol < 1, got " +
                                std::to_string(rank_tol));
  if (U0.rows() < 1 || U0.cols() < 1)
    throw std::invalid_argument("reduce_initial_factor(): expected a non-empty factor, got " +
                                std::to_string(U0.rows()) + " x " + std::to_string(U0.cols()));
  if (!U0.allFinite()) throw std::invalid_argument("reduce_initial_factor(): U0 is not finite");
  const Index p = U0.cols();
  Eigen::JacobiSVD<Matrix> svd(U0, Eigen::ComputeFullV);
  ReducedFactor out;
  out.rank_tol = rank_tol;
  out.singular_values = svd.singularValues();
  const double top = out.singular_values.size() ? out.singular_values[0] : 0.0;
  Index r0 = 0;
  for (Index i = 0; i < out.singular_values.size(); ++i)
    if (out.singular_values[i] > rank_tol * top && out.singular_values[i] > 0) ++r0;
  double discarded2 = 0.0;
  for (Index i = r0; i < out.singular_values.size(); ++i)
    discarded2 += out.singular_values[i] * out.singular_values[i];
  out.discarded = std::sqrt(discarded2);
  if (r0 == 0) {
    out.rank = 1;
    out.R = Matrix::Zero(p, 1);
    out.R(0, 0) = 1.0;
    out.L = Matrix::Zero(U0.rows(), 1);
    return out;
  }
  out.rank = r0;
  out.R = svd.matrixV().leftCols(r0);
  out.L = U0 * out.R;
  return out;
}

Matrix expand_factor(const Matrix& L, const Matrix& R) {
  if (L.cols() != R.cols())
    throw std::invalid_argument("expand_factor(): L has " + std::to_string(L.cols()) +
                                " columns but R has " + std::to_string(R.cols()));
  Matrix U;
  U.noalias() = L * R.transpose();
  return U;
}

}  // namespace flowsense
