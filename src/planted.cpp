#include "flowsense/problem/planted.hpp"

#include <stdexcept>
#include <string>

#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {
void mirror_upper(Matrix& X) {
  for (Index j = 0; j < X.cols(); ++j)
    for (Index i = j + 1; i < X.rows(); ++i) X(i, j) = X(j, i);
}
}  // namespace

Matrix planted_trace_one(Index d, Index r, std::uint64_t seed) {
  if (r < 1 || r > d)
    throw std::invalid_argument("planted_trace_one: expected 1 <= r <= d = " + std::to_string(d) +
                                ", got r = " + std::to_string(r));
  Rng rng(seed);
  const Matrix W = rng.normal_matrix(d, r);
  Matrix X = W * W.transpose();
  // Eigen's product does not sum X(i,j) and X(j,i) in the same order, so
  // mirror the upper triangle (the one A reads) to make X exactly symmetric:
  // eigensolvers read the lower one.
  mirror_upper(X);
  return X / X.trace();
}

Matrix planted_orthogonal(Index d, const std::vector<double>& eigenvalues, std::uint64_t seed) {
  const auto r = static_cast<Index>(eigenvalues.size());
  if (r < 1 || r > d)
    throw std::invalid_argument("planted_orthogonal: expected 1 <= number of eigenvalues <= d = " +
                                std::to_string(d) + ", got " + std::to_string(r));
  for (double e : eigenvalues)
    if (!(e > 0))
      throw std::invalid_argument("planted_orthogonal: eigenvalues must be positive, got " +
                                  std::to_string(e));
  Rng rng(seed);
  const Matrix G = rng.normal_matrix(d, r);
  const Matrix Q = Eigen::HouseholderQR<Matrix>(G).householderQ() * Matrix::Identity(d, r);
  Vector root(r);
  for (Index i = 0; i < r; ++i) root[i] = std::sqrt(eigenvalues[static_cast<std::size_t>(i)]);
  const Matrix X = Q * root.asDiagonal();
  Matrix Z = X * X.transpose();
  mirror_upper(Z);  // exactly symmetric, as above
  return Z;
}

Matrix random_factor(Index d, Index p, Index r, double norm, std::uint64_t seed) {
  if (p < 1) throw std::invalid_argument("random_factor: expected p >= 1, got " + std::to_string(p));
  if (r < 1 || r > std::min(d, p))
    throw std::invalid_argument("random_factor: expected 1 <= rank <= min(d, p) = " +
                                std::to_string(std::min(d, p)) + ", got " + std::to_string(r));
  if (!(norm > 0))
    throw std::invalid_argument("random_factor: expected norm > 0, got " + std::to_string(norm));
  Rng rng(seed);
  const Matrix G = rng.normal_matrix(d, r);
  Matrix U;
  if (r == p) {
    U = G;
  } else {
    const Matrix H = rng.normal_matrix(p, r);
    U = G * H.transpose();
  }
  return norm / U.norm() * U;
}

}  // namespace flowsense
