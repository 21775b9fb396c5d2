#pragma once
// r = M x - b and g = M^T r in one pass over the m x D packed matrix M of a
// packed operator (problem/packed_operator.hpp): the plain operator form's
// gradient, A*(A(X) - b), "fused where it pays" (issue 5).
//
// Why fused. The two GEMVs of block_gemv.hpp each stream all of M: 16 m D
// bytes per gradient. Here M is copied once into measurement-major order
// (row i of M contiguous), and the rows are taken C at a time: their C dot
// products with x give C entries of r, and the same rows, still in L1 or L2,
// are added into g with those entries as weights. M then comes from memory
// (or, at Example 1.1's size where M fits in L2, from L2) once per gradient:
// 8 m D bytes. The rows per chunk C (4, 2 or 1) shrink with D so that a
// chunk, x and g stay within one core's L2.
//
// The copy is padded: every row to Dp = D rounded up to whole SIMD vectors,
// and m to whole chunks of every block, with zeros, 64-byte aligned, so the
// loops have no edge cases. Within a chunk the C rows are interleaved vector
// by vector (W entries of row 0, the same W of row 1, ..., then the next W
// columns), so that a chunk is one sequential stream rather than C streams
// Dp apart: at Example 1.1's size 6.6-7.0 against 9.9-10.6 us a call,
// from memory (d = 100, m = 5000) 6.7 against 7.5-8.2 ms. It costs 8 m D
// bytes more memory (the loss makes it only under a limit,
// loss/operator_form.hpp).
//
// Repeatable for any thread count. The rows are cut into
// `fused_residual_blocks` fixed blocks; block J writes its entries of r and
// its own partial sum g_J, and g = (g_0 + g_1) + (g_2 + g_3) entry by
// entry (pairs first, so that a thread with both blocks of a pair passes
// one sum to the caller, not two). The threads of a WorkerPool
// (core/worker_pool.hpp) only decide who computes which block (consecutive
// blocks per thread, so each thread streams one contiguous range of M and
// keeps it in its own cache) and who adds a pair, so the bits do not depend
// on the number of threads. They differ in the last bits from
// block_gemv's (another summation order).
#include <memory>

#include "flowsense/core/aligned_doubles.hpp"
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// The fixed number of row blocks: threads beyond it do not help.
inline constexpr Index fused_residual_blocks = 4;

class FusedResidual {
public:
  FusedResidual() = default;
  /// Copies M (m x D) into measurement-major padded order.
  explicit FusedResidual(const Matrix& M);

  Index rows() const { return rows_; }  ///< m
  Index cols() const { return cols_; }  ///< D
  /// Rows per chunk (4, 2 or 1), chosen from D alone.
  Index chunk() const { return chunk_; }
  /// Bytes held (the padded copy).
  double bytes() const;

  /// r = M x - b (r = M x if b is null) and g = M^T r. Throws
  /// std::invalid_argument if x or b has the wrong length. `pool` may be
  /// null (the calling thread alone) or busy (then too). r and g must not
  /// alias x or b.
  void compute(const Vector& x, const Vector* b, Vector& r, Vector& g, WorkerPool* pool = nullptr) const;

  /// y = M x and g = M^T r alone, on the calling thread, from the same copy:
  /// for products that cannot be fused because something happens between
  /// the two (the preconditioner of flow/gauss_newton_inverse.hpp solves a
  /// linear system there). Read from the copy, which the run's gradients
  /// keep in cache, rather than from M itself (at Example 1.1's size M and
  /// its copy, 0.9 MB each, do not both stay in one core's L2 beside the
  /// rest of a run's data: docs/performance.md, problem 2). Throw
  /// std::invalid_argument on a wrong length; the outputs must not alias
  /// the inputs.
  void apply(const Vector& x, Vector& y) const;
  void adjoint(const Vector& r, Vector& g) const;

private:
  Index rows_ = 0, cols_ = 0;
  Index padded_cols_ = 0;  // Dp: D rounded up to whole SIMD vectors (a chunk is C Dp doubles)
  Index chunk_ = 1;
  Index block_start_[fused_residual_blocks + 1] = {};  // padded row index of each block, multiples of chunk_
  AlignedDoubles chunks_;  // block_start_[K] / C chunks of C Dp doubles
};

}  // namespace flowsense
