#include "flowsense/problem/normal_operator.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "flowsense/core/packed.hpp"

namespace flowsense {

NormalOperator::NormalOperator(const PackedOperator& op, const Vector& b) : d_(op.dim()) {
  const Matrix& M = op.packed_rows();
  if (b.size() != M.rows())
    throw std::invalid_argument("NormalOperator: expected b of length m = " + std::to_string(M.rows()) +
                                ", got " + std::to_string(b.size()));
  const Index D = M.cols();
  // A symmetric rank-m update computes one triangle (half the flops of M^T M);
  // the other is mirrored so that apply() is a plain GEMV (Eigen's symmetric
  // GEMV reads half the bytes but measured no faster here: Q of paper 003's
  // size sits in the last-level cache).
  q_.setZero(D, D);
  q_.selfadjointView<Eigen::Lower>().rankUpdate(M.transpose());
  q_.triangularView<Eigen::StrictlyUpper>() = q_.transpose();
  c_.noalias() = M.transpose() * b;
  b_norm2_ = b.squaredNorm();
}

namespace {

/// Y = Q X in `threads` row blocks of at least 64 rows. Thread start-up
/// (~10-30 us) only pays on large Q, which the caller decides by the count.
template <class In, class Out>
void blocked_product(const Matrix& Q, const In& X, Out& Y, int threads) {
  const Index D = Q.rows();
  const Index blocks = std::min<Index>(threads, std::max<Index>(1, D / 64));
  if (blocks <= 1) {
    Y.noalias() = Q * X;
    return;
  }
  const Index step = (D + blocks - 1) / blocks;
  auto work = [&](Index k) {
    const Index lo = k * step, n = std::min(D, lo + step) - lo;
    if (n > 0) Y.middleRows(lo, n).noalias() = Q.middleRows(lo, n) * X;
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(blocks - 1));
  for (Index k = 1; k < blocks; ++k) pool.emplace_back(work, k);
  work(0);
  for (auto& t : pool) t.join();
}

}  // namespace

void NormalOperator::apply(const Vector& x, Vector& y) const {
  y.resize(q_.rows());
  blocked_product(q_, x, y, threads_);
}

void NormalOperator::apply(const Matrix& X, Matrix& Y) const {
  const Index D = q_.rows(), K = X.cols();
  if (K == 1) {
    Y.resize(D, 1);
    blocked_product(q_, X, Y, threads_);
    return;
  }
  // Q is symmetric, so row j of Q X is Q(:, j)^T X: walking Q column by
  // column streams it once, contiguously, while X (D x K, 8 D K bytes) stays
  // in cache, and no operand is packed (Eigen's GEMM copies Q into panels on
  // every call, which at K ~ 8 costs as much as the product). Each entry is
  // the same dot product whichever thread computes it.
  Matrix Yt(K, D);
  const Index blocks = std::min<Index>(threads_, std::max<Index>(1, D / 64));
  const Index step = (D + blocks - 1) / blocks;
  auto work = [&](Index k) {
    const Index lo = k * step, hi = std::min(D, lo + step);
    for (Index j = lo; j < hi; ++j) Yt.col(j).noalias() = X.transpose() * q_.col(j);
  };
  std::vector<std::thread> pool;
  for (Index k = 1; k < blocks; ++k) pool.emplace_back(work, k);
  work(0);
  for (auto& t : pool) t.join();
  Y = Yt.transpose();
}

void NormalOperator::residual_adjoint(const Vector& x, Vector& g) const {
  apply(x, g);
  g -= c_;
}

void NormalOperator::residual_adjoint(const Matrix& X, Matrix& S) const {
  Vector x, g;
  pack_symmetric(X, x);
  residual_adjoint(x, g);
  unpack_symmetric(g, d_, S);
}

void NormalOperator::normal_apply(const Matrix& W, Matrix& S) const {
  Vector w, g;
  pack_symmetric(W, w);
  apply(w, g);
  unpack_symmetric(g, d_, S);
}

double NormalOperator::training_error(const Vector& x) const {
  Vector qx;
  apply(x, qx);
  return x.dot(qx) - 2.0 * c_.dot(x) + b_norm2_;
}

}  // namespace flowsense
