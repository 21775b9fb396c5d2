#pragma once
// y = Q x for a symmetric D x D matrix stored once, as its strictly lower
// triangle in panels, plus its diagonal: the kernel of the normal operator
// (problem/normal_operator.hpp) on every gradient of the normal form.
//
// Why a copy of Q in its own layout. The product reads each entry of one
// triangle once and uses it twice, for its row (an AXPY into y) and for its
// column (a dot product with x): half the bytes of a GEMV on the full Q.
// Read in place from a column-major Q, the triangle's columns start at
// unaligned addresses and have ragged ends, and at Example 1.1's size
// (D = 465, 58 groups of eight columns about 230 rows long) the scalar
// edges of each group cost as much as its vector body: 12.2 us per product
// against 7.6-8.3 us from the panels (paper 003's D = 1275: 91-115 -> 83-102 us; on
// two threads 7.5 -> 5.7 us and 54-59 -> 51-56 us; docs/performance_kernels.md).
// A panel holds eight columns j0 .. j0+7 from row j0 down, in blocks of
// 8 x 8 (eight contiguous, 64-byte aligned segments of eight rows, one per
// column), zero-padded above the diagonal and below row D, so the loop has
// no edge cases: one stream per panel, whole aligned vectors only. It costs
// 4 D (D + 8) bytes more memory, half of Q's own 8 D^2.
//
// Repeatable for any thread count. The panels are cut into fixed tasks of
// eight panels (64 columns, independent of the thread count); task J writes
// its columns' dot products into t and its AXPY contributions into a private
// buffer w_J, and y = (t + diag x) + w_0 + w_1 + ..., summed in this order,
// so the result has the same bits whether one thread or several ran the
// tasks. On a WorkerPool (core/worker_pool.hpp) of T threads each thread
// runs a fixed part of consecutive tasks (about 1/T of the blocks), the
// same on every call, so that its part of Q stays in its own cache, and
// then helps with what is left of the others' (on two threads at D = 1275:
// 52.6 -> 44.4 us a product, docs/performance_kernels.md). It differs from
// Eigen's Q * x in the last bits (another summation order).
#include <memory>

#include "flowsense/core/aligned_doubles.hpp"
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

class SymmetricPanels {
public:
  SymmetricPanels() = default;
  /// Copies the lower triangle of Q (the upper one is not read). Throws
  /// std::invalid_argument if Q is not square.
  explicit SymmetricPanels(const Matrix& Q);

  Index size() const { return size_; }  ///< D

  /// y = Q x. `pool` may be null (the calling thread alone) or busy (then
  /// too). Throws std::invalid_argument if x has the wrong length. y must not
  /// alias x.
  void product(const Vector& x, Vector& y, WorkerPool* pool = nullptr) const;

private:
  Index size_ = 0;    // D
  Index groups_ = 0;  // panels: D rounded up to eight columns, / 8
  AlignedDoubles panels_;
  Vector diagonal_;
};

}  // namespace flowsense
