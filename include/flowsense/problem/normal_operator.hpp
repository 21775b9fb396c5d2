#pragma once
// The normal-operator form of a packed sensing operator (DESIGN.md,
// "Performance model"; issue 5).
//
// With M the m x D packed matrix of a PackedOperator (row i = s vech(A_i),
// D = d(d+1)/2) and data b,
//
//   Q = M^T M   (D x D, symmetric),   c = M^T b,
//   A*(A(X) - b)   = unvech(Q vech(X) - c),
//   A*(A(W))       = unvech(Q vech(W)),
//   ||A(X) - b||^2 = x^T Q x - 2 c^T x + ||b||^2   (x = vech(X)).
//
// One right-hand side of the factor flow then streams D^2 doubles once
// instead of m D doubles twice: at d = 50, m = 5000 (paper 003) Q is 13 MB
// against 51 MB read twice. Building Q costs m D (D + 1) flops once
// (core/gram_matrix.hpp, on the loss' threads when it has them), which
// loss/operator_form.hpp weighs against the savings.
//
// Accuracy. The gradient Q x - c equals M^T(M x - b) up to rounding of the
// same absolute size, eps ||M||^2 ||x||, so gradients and trajectories agree
// with the plain path to ~1e-13 relative (tests/test_normal_operator.cpp).
// The fixed point the flow settles at moves by eps kappa(M)^2 ||x|| instead of
// eps kappa(M) ||x|| (kappa over the range of M^T): for Gaussian operators
// kappa ~ (1 + sqrt(D/m)) / |1 - sqrt(D/m)|, i.e. ~3 at d = 50, m = 5000 and
// ~6 at Example 1.1 (d = 30, m = 240), so test errors ||UU^T - X||^2 floor one
// to two decades higher (1e-29 rather than 1e-30 relative). The value
// formula training_error(x) cancels: its absolute error is
// eps (||Q|| ||x||^2 + ||b||^2), useless once the training error is below
// ~1e-14 ||b||^2. The loss therefore computes every training error, value
// and observer from M (SensingLoss::residual) and uses Q only for gradients,
// Hessian-vector products and Jacobian-vector products, and for stop rules
// where the identity's rounding bound decides (training_error_estimate).
//
// Kernel and threads: apply() reads only the lower triangle of Q, each entry
// used for two entries of y (core/symmetric_panels.hpp: half the bytes of a
// GEMV on the full Q, which is what bounds it), from a copy of that triangle
// in aligned panels (half of Q's memory again: 6.5 MB next to Q's 13 MB at
// paper 003's size). set_threads(T > 1) uses the process's pool of T
// threads (WorkerPool::shared, core/worker_pool.hpp) for the products; the
// work is cut into fixed blocks whatever T is, so results are bitwise
// identical across thread counts (tests/test_normal_operator.cpp).
// The batched product apply_rows() reads the same triangle once for K
// right-hand sides, 2K FMAs per entry loaded.
#include <memory>

#include "flowsense/core/symmetric_panels.hpp"
#include "flowsense/problem/packed_operator.hpp"

namespace flowsense {

class WorkerPool;

class NormalOperator {
public:
  /// Builds Q = M^T M, c = M^T b and ||b||^2 for op's packed matrix M,
  /// Q on `pool`'s threads if one is given (core/gram_matrix.hpp; the same
  /// bits without), which the products then share (as share_pool()).
  /// Throws std::invalid_argument if b.size() != op.measurements().
  NormalOperator(const PackedOperator& op, const Vector& b, std::shared_ptr<WorkerPool> pool = nullptr);
  ~NormalOperator();
  NormalOperator(const NormalOperator&) = delete;
  NormalOperator& operator=(const NormalOperator&) = delete;

  Index dim() const { return d_; }
  /// D = d(d+1)/2, the side of Q.
  Index packed_dim() const { return q_.rows(); }
  /// Q = M^T M (both triangles stored; apply() reads the lower one).
  const Matrix& gram() const { return q_; }
  /// c = M^T b.
  const Vector& data_adjoint() const { return c_; }
  /// ||b||^2.
  double data_norm2() const { return b_norm2_; }

  /// y = Q x.
  void apply(const Vector& x, Vector& y) const;
  /// Y = Q X for K columns at once (by apply_rows on X^T).
  void apply(const Matrix& X, Matrix& Y) const;
  /// Yt = (Q X)^T for K right-hand sides stored as the rows of Xt (K x D):
  /// the batched flows' product (flow/batch_flow.hpp), which packs its
  /// members straight into that layout. Q is read once for all K
  /// (core/symmetric_product.hpp, symmetric_product_rows).
  void apply_rows(const Matrix& Xt, Matrix& Yt) const;
  /// g = Q x - c = vech(A*(A(X) - b)) for x = vech(X).
  void residual_adjoint(const Vector& x, Vector& g) const;
  /// S = A*(A(X) - b) for a symmetric X (upper triangle read).
  void residual_adjoint(const Matrix& X, Matrix& S) const;
  /// S = A*(A(W)) for a symmetric W (upper triangle read).
  void normal_apply(const Matrix& W, Matrix& S) const;
  /// x^T Q x - 2 c^T x + ||b||^2: cancels near zero training error (see the
  /// header comment); for diagnostics and tests, not for stop rules.
  double training_error(const Vector& x) const;

  /// The same identity from a product already computed, g = Q x - c (so no
  /// pass over Q): value = x^T g - c^T x + ||b||^2, with a bound on its
  /// rounding error, |value - ||M x - b||^2| <= bound. The bound is the
  /// first-order one for the computed sums, gamma_{D+2} (||Q||_F ||x||^2 +
  /// 2 ||x|| ||g|| + ||c|| ||x|| + ||b||^2) (|x|^T |Q| |x| <= ||Q||_F ||x||^2),
  /// doubled. SensingLoss::training_error_below uses it to decide a stop
  /// rule without a pass over M where the value is far enough from the level.
  struct TrainingErrorEstimate {
    double value = 0;
    double bound = 0;
  };
  TrainingErrorEstimate training_error_estimate(const Vector& x, const Vector& g) const;

  /// Threads used by apply() (1 = the caller's only). Values < 1 mean 1.
  /// Not thread-safe against concurrent apply(); set it before sharing.
  /// Concurrent apply() calls are safe: one of them uses the pool, the others
  /// compute alone (the same bits).
  void set_threads(int threads);
  /// Uses `pool` (shared with its other users, e.g. the loss' plain form;
  /// null: the caller's thread only) instead of a pool of its own.
  void share_pool(std::shared_ptr<WorkerPool> pool);
  int threads() const { return threads_; }

private:
  Index d_;
  Matrix q_;
  SymmetricPanels panels_;  // Q's triangle for apply()
  Vector c_;
  double b_norm2_;
  double q_frobenius_, c_norm_;  // ||Q||_F and ||c||, for training_error_estimate's bound
  int threads_ = 1;
  std::shared_ptr<WorkerPool> pool_;  // null for one thread
};

}  // namespace flowsense
