#include "flowsense/problem/normal_operator.hpp"

#include <limits>
#include <stdexcept>
#include <string>

#include "flowsense/core/gram_matrix.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/symmetric_product.hpp"
#include "flowsense/core/worker_pool.hpp"

namespace flowsense {

NormalOperator::NormalOperator(const PackedOperator& op, const Vector& b, std::shared_ptr<WorkerPool> pool)
    : d_(op.dim()) {
  const Matrix& M = op.packed_rows();
  if (b.size() != M.rows())
    throw std::invalid_argument("NormalOperator: expected b of length m = " + std::to_string(M.rows()) +
                                ", got " + std::to_string(b.size()));
  const Index D = M.cols();
  // Q on the pool's threads (core/gram_matrix.hpp: the lower triangle,
  // about half the flops of a full M^T M, the same bits for any thread
  // count); apply() and apply_rows() read only its lower triangle.
  share_pool(std::move(pool));
  gram_matrix(M, q_, pool_.get());
  panels_ = SymmetricPanels(q_);
  c_.noalias() = M.transpose() * b;
  b_norm2_ = b.squaredNorm();
  q_frobenius_ = q_.norm();
  c_norm_ = c_.norm();
}

NormalOperator::~NormalOperator() = default;

void NormalOperator::set_threads(int threads) {
  threads_ = threads < 1 ? 1 : threads;
  if (threads_ == 1)
    pool_.reset();
  else if (!pool_ || pool_->threads() != threads_)
    pool_ = WorkerPool::shared(threads_);
}

void NormalOperator::share_pool(std::shared_ptr<WorkerPool> pool) {
  pool_ = std::move(pool);
  threads_ = pool_ ? pool_->threads() : 1;
}

void NormalOperator::apply(const Vector& x, Vector& y) const { panels_.product(x, y, pool_.get()); }

void NormalOperator::apply(const Matrix& X, Matrix& Y) const {
  Matrix Yt;
  apply_rows(X.transpose(), Yt);
  Y = Yt.transpose();
}

void NormalOperator::apply_rows(const Matrix& Xt, Matrix& Yt) const {
  // Each entry of Q's lower triangle is loaded once and used for all K
  // right-hand sides, twice (its row and its column); fixed blocks of
  // columns, so the bits do not depend on the thread count.
  symmetric_product_rows(q_, Xt, Yt, pool_.get());
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
  Vector g;
  residual_adjoint(x, g);
  return training_error_estimate(x, g).value;
}

NormalOperator::TrainingErrorEstimate NormalOperator::training_error_estimate(const Vector& x,
                                                                             const Vector& g) const {
  if (x.size() != q_.rows() || g.size() != q_.rows())
    throw std::invalid_argument("NormalOperator::training_error_estimate(): expected x and g of length D = " +
                                std::to_string(q_.rows()) + ", got " + std::to_string(x.size()) + " and " +
                                std::to_string(g.size()));
  constexpr double u = std::numeric_limits<double>::epsilon() / 2;  // unit roundoff
  const double n = static_cast<double>(q_.rows() + 2), gamma = n * u / (1 - n * u);
  const double xn = x.norm();
  TrainingErrorEstimate e;
  e.value = x.dot(g) - c_.dot(x) + b_norm2_;
  e.bound = 2 * gamma * (q_frobenius_ * xn * xn + 2 * xn * g.norm() + c_norm_ * xn + b_norm2_);
  return e;
}

}  // namespace flowsense
