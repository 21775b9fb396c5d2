#include "flowsense/core/gram_matrix.hpp"

#include "flowsense/core/worker_pool.hpp"

namespace flowsense {

void gram_matrix(const Matrix& M, Matrix& Q, WorkerPool* pool) {
  const Index D = M.cols(), s = D / 2, t = D - s;
  Q.resize(D, D);  // every entry is written below
  const auto M1 = M.leftCols(s), M2 = M.rightCols(t);
  // Task 0, the largest, first (tasks are claimed in order): the
  // off-diagonal block; then the two triangles of the diagonal blocks.
  auto task = [&](Index k) {
    if (k == 0) {
      Q.bottomLeftCorner(t, s).noalias() = M2.transpose() * M1;
    } else {
      auto block = k == 1 ? Q.topLeftCorner(s, s) : Q.bottomRightCorner(t, t);
      block.setZero();
      block.selfadjointView<Eigen::Lower>().rankUpdate(k == 1 ? M1.transpose() : M2.transpose());
    }
  };
  // Small builds stay on the caller: at Example 1.1's size (52 Mflop, ~1 ms)
  // two threads took 2 ms in bench_kernels against 1 ms on one (a new
  // worker's first GEMM pays for its own allocations and a cold cache), at
  // m = 5000, D = 465 (1.1 Gflop) 1.28x, at paper 003's size 1.82x.
  const double flops = static_cast<double>(M.rows()) * static_cast<double>(D) * static_cast<double>(D + 1);
  if (flops < gram_matrix_threaded_flops || !pool || !pool->try_run(3, task))
    for (Index k = 0; k < 3; ++k) task(k);
  Q.triangularView<Eigen::StrictlyUpper>() = Q.transpose();
}

}  // namespace flowsense
