#include "flowsense/core/block_gemv.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "flowsense/core/worker_pool.hpp"

namespace flowsense {

namespace {

constexpr Index K = gemv_column_blocks;

/// First column of block J (J = K gives D).
Index block_start(Index D, Index J) { return J * D / K; }

/// Runs blocks(first, last) for the task groups: min(threads, K) tasks of
/// consecutive blocks on the pool, or all K blocks on the caller.
template <class Blocks>
void run_blocks(WorkerPool* pool, Blocks&& blocks) {
  const Index tasks = pool ? std::min<Index>(pool->threads(), K) : 1;
  if (tasks > 1 && pool->try_run(tasks, [&](Index t) { blocks(t * K / tasks, (t + 1) * K / tasks); })) return;
  blocks(0, K);
}

}  // namespace

void block_gemv(const Matrix& M, const Vector& x, Vector& y, WorkerPool* pool) {
  const Index m = M.rows(), D = M.cols();
  if (x.size() != D)
    throw std::invalid_argument("block_gemv(): expected x of length D = " + std::to_string(D) + ", got " +
                                std::to_string(x.size()));
  // The partial products of the blocks; per calling thread, so that the hot
  // loop does not allocate (the tasks write their columns from any thread).
  // (A reference, so that the tasks on other threads see the caller's
  // buffer, not their own thread_local one.)
  thread_local Matrix buffer;
  Matrix& partial = buffer;
  partial.resize(m, K);
  run_blocks(pool, [&](Index first, Index last) {
    for (Index J = first; J < last; ++J) {
      const Index c0 = block_start(D, J), w = block_start(D, J + 1) - c0;
      if (w == 0)
        partial.col(J).setZero();
      else
        partial.col(J).noalias() = M.middleCols(c0, w) * x.segment(c0, w);
    }
  });
  y = partial.col(0);
  for (Index J = 1; J < K; ++J) y += partial.col(J);
}

void block_gemv_transposed(const Matrix& M, const Vector& r, Vector& g, WorkerPool* pool) {
  const Index m = M.rows(), D = M.cols();
  if (r.size() != m)
    throw std::invalid_argument("block_gemv_transposed(): expected r of length m = " + std::to_string(m) +
                                ", got " + std::to_string(r.size()));
  g.resize(D);
  // Block by block even within a task: Eigen's GEMV treats rows of M^T in
  // groups (8, 4, 2, 1) with different remainders, so an entry's bits depend
  // on the range it is computed in; the ranges are the fixed blocks.
  // Blocks in descending order, against block_gemv's ascending one: a
  // gradient runs this right after M x, so the blocks that pass read last
  // are still in cache when this one starts (and the next M x starts where
  // this one ended). At Example 1.1's size M (893 KB) is about the size of
  // one core's L2, and reading it in one direction over and over evicts
  // each block just before it is needed again. Same bits either way: every
  // block writes only its own entries of g.
  run_blocks(pool, [&](Index first, Index last) {
    for (Index J = last; J-- > first;) {
      const Index c0 = block_start(D, J), w = block_start(D, J + 1) - c0;
      if (w > 0) g.segment(c0, w).noalias() = M.middleCols(c0, w).transpose() * r;
    }
  });
}

}  // namespace flowsense
