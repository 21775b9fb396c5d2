#include "flowsense/core/gram_product.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "flowsense/core/worker_pool.hpp"
#include "simd_lanes.hpp"

namespace flowsense {

namespace {

using namespace simd;

// Rows of R (first product) and columns of G (second) per task: fixed, so
// results do not depend on the thread count; a multiple of every group width.
constexpr Index task_rows = 256, task_columns = 256;

/// Columns per group for V vectors of lanes: NR V accumulators (or columns
/// of X) plus 2 V working vectors and a broadcast must fit the register file.
constexpr Index columns_of(int V) {
  Index nr = 1;
  while (2 * nr * V + 2 * V + 1 <= registers) nr *= 2;
  return nr;
}

/// R[r] += sum_c M(r, i + c) x[i + c] for r < m, over the NR columns
/// from i (x, R: Kp = V W lanes per index). Per row: one load and store of
/// R[r], NR broadcasts, V NR FMAs; rows are independent of each other.
template <int V, Index NR>
void residual_group(const double* M, Index ld, Index m, Index i, const double* x, double* R) {
  constexpr Index Kp = V * W;
  vec xc[NR][V];
  const double* col[NR];
  for (Index c = 0; c < NR; ++c) {
    col[c] = M + (i + c) * ld;
    for (int v = 0; v < V; ++v) xc[c][v] = load(x + (i + c) * Kp + v * W);
  }
  for (Index r = 0; r < m; ++r) {
    // Two chains (even and odd columns) halve the FMA latency per row.
    vec even[V], odd[V];
    for (int v = 0; v < V; ++v) {
      even[v] = load(R + r * Kp + v * W);
      odd[v] = broadcast(0.0);
    }
    for (Index c = 0; c < NR; ++c) {
      const double q = col[c][r];
      for (int v = 0; v < V; ++v) {
        if (c % 2 == 0)
          even[v] += q * xc[c][v];
        else
          odd[v] += q * xc[c][v];
      }
    }
    for (int v = 0; v < V; ++v) store(R + r * Kp + v * W, even[v] + odd[v]);
  }
}

/// g[i + c] = sum_{r < m} M(r, i + c) R[r] for the NR columns from i.
/// Per row: V loads of R[r], NR broadcasts, V NR FMAs into NR V accumulators.
template <int V, Index NR>
void adjoint_group(const double* M, Index ld, Index m, Index i, const double* R, double* g) {
  constexpr Index Kp = V * W;
  vec acc[NR][V];
  const double* col[NR];
  for (Index c = 0; c < NR; ++c) {
    col[c] = M + (i + c) * ld;
    for (int v = 0; v < V; ++v) acc[c][v] = broadcast(0.0);
  }
  for (Index r = 0; r < m; ++r) {
    vec rr[V];
    for (int v = 0; v < V; ++v) rr[v] = load(R + r * Kp + v * W);
    for (Index c = 0; c < NR; ++c) {
      const double q = col[c][r];
      for (int v = 0; v < V; ++v) acc[c][v] += q * rr[v];
    }
  }
  for (Index c = 0; c < NR; ++c)
    for (int v = 0; v < V; ++v) {
      store(g + (i + c) * Kp + v * W, acc[c][v]);
    }
}

/// Gt(k0 .. k0+kc-1, :) for the kc <= V W right-hand sides in those rows of Xt.
template <int V>
void gram_chunk(const Matrix& M, const Vector* b, const Matrix& Xt, Index k0, Index kc, Matrix& Gt, WorkerPool* pool) {
  constexpr Index Kp = V * W, NR = columns_of(V);
  static_assert(task_columns % NR == 0, "groups must tile a task's columns");
  const Index m = M.rows(), D = M.cols(), ld = M.outerStride();
  // Workspace: x, g (Kp D each) and R (Kp m); per calling thread, so that
  // the hot loop does not allocate.
  thread_local std::vector<double> workspace;
  const Index size = 2 * Kp * D + Kp * m;
  if (static_cast<Index>(workspace.size()) < size) workspace.resize(static_cast<std::size_t>(size));
  double* x = workspace.data();
  double* g = x + Kp * D;
  double* R = g + Kp * D;
  to_lanes(Xt, k0, kc, Kp, x);
  for (Index r = 0; r < m; ++r)
    for (Index k = 0; k < Kp; ++k) R[r * Kp + k] = b && k < kc ? -(*b)[r] : 0.0;
  const double* A = M.data();
  // R = M X - b 1^T: task J owns rows J*task_rows.., walking all columns.
  auto residual = [&](Index J) {
    const Index r0 = J * task_rows, rb = std::min(task_rows, m - r0);
    Index i = 0;
    for (; i + NR <= D; i += NR) residual_group<V, NR>(A + r0, ld, rb, i, x, R + r0 * Kp);
    for (; i < D; ++i) residual_group<V, 1>(A + r0, ld, rb, i, x, R + r0 * Kp);
  };
  // G = M^T R: task J owns columns J*task_columns.., walking all rows.
  auto adjoint = [&](Index J) {
    const Index lo = J * task_columns, hi = std::min(D, lo + task_columns);
    Index i = lo;
    for (; i + NR <= hi; i += NR) adjoint_group<V, NR>(A, ld, m, i, R, g);
    for (; i < hi; ++i) adjoint_group<V, 1>(A, ld, m, i, R, g);
  };
  const Index row_tasks = (m + task_rows - 1) / task_rows, column_tasks = (D + task_columns - 1) / task_columns;
  if (!pool || !pool->try_run(row_tasks, residual))
    for (Index J = 0; J < row_tasks; ++J) residual(J);
  if (!pool || !pool->try_run(column_tasks, adjoint))
    for (Index J = 0; J < column_tasks; ++J) adjoint(J);
  from_lanes(g, Kp, k0, kc, Gt);
}

}  // namespace

void gram_product_rows(const Matrix& M, const Vector* b, const Matrix& Xt, Matrix& Gt, WorkerPool* pool) {
  const Index D = M.cols();
  if (Xt.cols() != D)
    throw std::invalid_argument("gram_product_rows(): expected right-hand sides of length D = " +
                                std::to_string(D) + " (Xt with " + std::to_string(D) + " columns), got " +
                                std::to_string(Xt.cols()));
  if (b && b->size() != M.rows())
    throw std::invalid_argument("gram_product_rows(): expected b of length m = " + std::to_string(M.rows()) +
                                ", got " + std::to_string(b->size()));
  const Index K = Xt.rows();
  Gt.resize(K, D);
  // Up to four vectors of lanes per pass: where M comes from memory, more
  // right-hand sides per pass share its bytes (K = 16 ran faster per member than 8).
  for_lane_chunks<4>(K, [&](auto V, Index k0, Index kc) { gram_chunk<decltype(V)::value>(M, b, Xt, k0, kc, Gt, pool); });
}

}  // namespace flowsense
