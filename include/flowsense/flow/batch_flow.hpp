#pragma once
// K factor flows that share one loss (the trials of a sweep: same operator and
// data, different initializations), advanced as one system (issue 5).
//
// State: the K members side by side, U = [U_1 ... U_K], d x (K p). One
// right-hand side stacks x_k = vech(U_k U_k^T) as the columns of a D x K
// matrix P (stored as its transpose, the members as rows), so that the
// operator is applied to all members by one matrix-matrix product instead
// of K matrix-vector ones:
//
//   normal form:  G = Q P - c 1^T         (Q's lower triangle read once for all K,
//                                          core/symmetric_product.hpp)
//   plain form:   G = M^T (M P - b 1^T)   (M streamed twice for all K,
//                                          core/gram_product.hpp)
//   then          U_k' = -2c unvech(G_k) U_k.
//
// A matrix-vector product streams its matrix once per member and is bound by
// those bytes; the batched kernels load each entry once for K members and use
// it in K (plain) or 2K (normal) FMAs, so they run near the core's FMA rate
// (bench/bench_kernels.cpp measures the ratio). Buffers are kept per thread:
// a right-hand side does not allocate once the first one has run. Which
// form runs is the loss' choice (loss/operator_form.hpp; a batched
// evaluation counts as K evaluations for the cost model). Operators
// without a packed matrix (rank-one, entry sampling, full observation) fall
// back to K separate gradients, with the same results.
//
// Step control. integrate() and integrate_batch() treat the stacked state as
// one: the error norm is the maximum over all entries, i.e. the maximum over
// members of each member's own error norm, so every member meets the
// tolerance it would meet alone and all share the smallest step any of them
// needs. A batch therefore takes at least as many steps as its hardest
// member; the members agree with separate runs to the tolerance, and exactly
// (to rounding) with a fixed-step stepper (tests/test_batch_flow.cpp).
//
// The Jacobian is block diagonal with the members' symmetric blocks
// J_k = -H(U_k), so the stiff steppers (rkc, rosenbrock, bdf, auto) work on it too.
// It has no dense_jacobian() (FactorFlow's closed form): a batch of K states
// is rarely within stiff.dense_max_size, and where it is, the steppers
// assemble the dense matrix from products as for any system.
#include <cstdint>
#include <memory>
#include <vector>

#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

/// [U_1 ... U_K] from K factors of equal shape. Throws std::invalid_argument
/// (naming the member and its shape) if they differ or the list is empty.
Matrix stack_members(const std::vector<Matrix>& members);
/// The K blocks of a stacked state. Throws if cols is not a multiple of K.
std::vector<Matrix> split_members(const Matrix& stacked, Index members);

class WorkerPool;

class BatchFactorFlow {
public:
  /// Throws std::invalid_argument if members < 1. With the loss' threads
  /// option T > 1 the batched product runs on the loss' pool of T - 1
  /// workers (SensingLoss::worker_pool, which the normal form and the loss'
  /// own products share, so that a batch run has one set of workers);
  /// results are bitwise the same for any T.
  BatchFactorFlow(SensingLoss loss, Index members);

  /// dUdt = [-grad G_c(U_1) ... -grad G_c(U_K)]. Counts one evaluation
  /// (of all K members).
  void operator()(const Matrix& U, Matrix& dUdt, double t) const;

  static constexpr bool symmetric_jacobian = true;

  /// The block-diagonal Jacobian frozen at U: J[V]_k = -H(U_k)[V_k], with the
  /// K Gauss-Newton parts A*(A(U_k V_k^T + V_k U_k^T)) batched like the
  /// right-hand side.
  class Linearization {
  public:
    Linearization(const BatchFactorFlow& flow, const Matrix& U);
    void operator()(const Matrix& V, Matrix& out) const;

  private:
    const BatchFactorFlow* flow_;
    Matrix U_;
    std::vector<Matrix> S_;  // A*(r(U_k)) per member
  };
  Linearization linearize(const Matrix& U) const { return Linearization(*this, U); }
  void jacobian_vector(const Matrix& U, const Matrix& V, Matrix& out) const { linearize(U)(V, out); }

  const SensingLoss& loss() const { return loss_; }
  Index members() const { return members_; }
  std::uint64_t evaluations() const { return evaluations_; }
  void reset_evaluations() { evaluations_ = 0; }

  /// The K symmetric matrices A*(A(W_k) - b) (residual = true) or A*(A(W_k))
  /// (residual = false) for symmetric W_k, by one batched product. Public for
  /// tests and benchmarks.
  void batched_adjoint(const std::vector<Matrix>& W, bool residual, std::vector<Matrix>& S) const;

private:
  SensingLoss loss_;
  Index members_;
  mutable std::uint64_t evaluations_ = 0;
};

}  // namespace flowsense
