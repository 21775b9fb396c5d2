#pragma once
// y = M x and g = M^T r for the m x D packed matrix of a packed operator
// (problem/packed_operator.hpp), cut into fixed column blocks so that the
// plain operator form runs on several threads (issue 5, problems 1 and 6).
//
// Why columns. M is column-major, so a block of columns is one contiguous
// piece of memory, and the two passes of a gradient split without
// transposed short dot products:
//   y = M x   = sum_J M_J x_J     (partial m-vectors y_J, one per block),
//   g = M^T r : g_J = M_J^T r     (each block owns its entries of g).
// The thread that runs block J in one pass runs it in the other, so at
// Example 1.1's size (M = 893 KB, d = 30, m = 240) each of two cores streams
// only its half of M, which stays in its own L2 between iterations. A split
// by rows would reduce D-vectors (465 at that size, against m = 240) and
// turn the adjoint into dot products of m / K entries each.
//
// Repeatable for any thread count: there are always `gemv_column_blocks`
// blocks (block J holds columns [J D / K, (J + 1) D / K)), whatever the
// pool's size; the threads only decide who computes which block, and y is
// y_0 + y_1 + ... + y_{K-1} summed in block order. Every block's product is
// Eigen's GEMV on that block, so results are the same bits for 1, 2, ...
// threads. They differ from Eigen's M * x on the whole matrix in the last
// bits (another summation order) and, in M^T r, Eigen's grouping of rows.
//
// With a WorkerPool (core/worker_pool.hpp) of T threads, the K blocks are
// grouped into min(T, K) tasks of consecutive blocks (task t: blocks
// [t K / T', (t + 1) K / T')), one per thread, so each thread's share of M
// is one contiguous range; a busy or null pool runs them on the caller.
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// The fixed number of column blocks: threads beyond it do not help.
inline constexpr Index gemv_column_blocks = 4;

/// y = M x on the fixed column blocks (see above). Throws
/// std::invalid_argument if x does not have M.cols() entries. y must not
/// alias x. `pool` may be null (the calling thread alone) or busy (then too).
void block_gemv(const Matrix& M, const Vector& x, Vector& y, WorkerPool* pool = nullptr);

/// g = M^T r, each block's entries on the thread that owns the block.
/// Throws std::invalid_argument if r does not have M.rows() entries. g must
/// not alias r.
void block_gemv_transposed(const Matrix& M, const Vector& r, Vector& g, WorkerPool* pool = nullptr);

}  // namespace flowsense
