#include "flowsense/core/symmetric_product.hpp"

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

// Blocks of 128 columns, wider than the one-vector product's 64
// (core/symmetric_panels.hpp): each block keeps a private buffer of
// K (D - r0) partial sums, and with 64-column blocks at D = 5050 those
// buffers (13 MB at K = 8) would add 40 % to the bytes of Q's triangle.
constexpr Index rows_block = 128;

/// Columns per group for V vectors of lanes: acc and x_j (2 V NR registers)
/// plus x_i, w_i (2 V) and the broadcast Q entry must fit in the register
/// file; a power of two, so that the groups tile a block.
constexpr Index group_of(int V) {
  Index nr = 1;
  while (2 * V * (2 * nr) + 2 * V + 1 <= registers) nr *= 2;
  return nr;
}

/// As column_group for Kp = V W lanes and exactly NR columns j .. j+NR-1
/// (compile-time, so that the accumulators stay in registers): x, w and t
/// hold one row of Kp lanes per index (x + i Kp). w[i - r0] += Q(i, j+c)
/// x[j+c] for i >= j+c and t[j+c] = sum_{i > j+c} Q(i, j+c) x[i], every lane
/// at once.
template <int V, Index NR>
void column_group_rows(const double* Q, Index ld, Index D, Index j, const double* x, double* w, Index r0,
                       double* t) {
  constexpr Index Kp = V * W;
  vec acc[NR][V], xj[NR][V];
  const double* col[NR];
  for (Index c = 0; c < NR; ++c) {
    col[c] = Q + (j + c) * ld;
    for (int v = 0; v < V; ++v) {
      acc[c][v] = broadcast(0.0);
      xj[c][v] = load(x + (j + c) * Kp + v * W);
    }
  }
  // The NR x NR triangle on the diagonal.
  for (Index c = 0; c < NR; ++c) {
    const vec diag = broadcast(col[c][j + c]);
    for (int v = 0; v < V; ++v) {
      double* wp = w + (j + c - r0) * Kp + v * W;
      store(wp, load(wp) + diag * xj[c][v]);
    }
    for (Index i = j + c + 1; i < j + NR; ++i) {
      const vec q = broadcast(col[c][i]);
      for (int v = 0; v < V; ++v) {
        double* wp = w + (i - r0) * Kp + v * W;
        store(wp, load(wp) + q * xj[c][v]);
        acc[c][v] += q * load(x + i * Kp + v * W);
      }
    }
  }
  // Rows below: per row, V loads of x_i, V loads and stores of w_i, NR
  // broadcasts of Q and 2 V NR FMAs. The chains into w_i are independent
  // from row to row, so the out-of-order core overlaps them. Once per cache
  // line, each column is prefetched 64 rows ahead: where Q comes from memory
  // (D = 5050, 102 MB) that took the product from ~55-60 to ~75-80 GFLOP/s;
  // from the cache (D = 1275) it changed nothing measurable. A prefetch
  // never faults, also past the end of Q.
  constexpr Index ahead = 64;
  for (Index i = j + NR; i < D; ++i) {
    if (i % 8 == 0)
      for (Index c = 0; c < NR; ++c) __builtin_prefetch(col[c] + i + ahead);
    vec xi[V], wi[V];
    for (int v = 0; v < V; ++v) {
      xi[v] = load(x + i * Kp + v * W);
      wi[v] = load(w + (i - r0) * Kp + v * W);
    }
    for (Index c = 0; c < NR; ++c) {
      const vec q = broadcast(col[c][i]);
      for (int v = 0; v < V; ++v) {
        wi[v] += q * xj[c][v];
        acc[c][v] += q * xi[v];
      }
    }
    for (int v = 0; v < V; ++v) store(w + (i - r0) * Kp + v * W, wi[v]);
  }
  for (Index c = 0; c < NR; ++c)
    for (int v = 0; v < V; ++v) store(t + (j + c) * Kp + v * W, acc[c][v]);
}

/// Yt(k0 .. k0+kc-1, :) = (Q X)^T for the kc <= V W right-hand sides in those rows of Xt.
template <int V>
void rows_chunk(const Matrix& Q, const Matrix& Xt, Index k0, Index kc, Matrix& Yt, WorkerPool* pool) {
  constexpr Index Kp = V * W, NR = group_of(V);
  static_assert(rows_block % NR == 0, "groups must tile a block");
  const Index D = Q.rows(), blocks = (D + rows_block - 1) / rows_block;
  auto offset = [&](Index J) { return Kp * (J * D - rows_block * J * (J - 1) / 2); };  // of w_J in w
  // Workspace: x (the right-hand sides, lanes padded with zeros), t, then
  // the blocks' w_J; kept per calling thread so that the hot loop does not allocate.
  thread_local std::vector<double> workspace;
  const Index size = 2 * Kp * D + offset(blocks);
  if (static_cast<Index>(workspace.size()) < size) workspace.resize(static_cast<std::size_t>(size));
  double* x = workspace.data();
  double* t = x + Kp * D;
  double* w = t + Kp * D;
  to_lanes(Xt, k0, kc, Kp, x);
  const double* q = Q.data();
  const Index ld = Q.outerStride();
  auto task = [&](Index J) {
    const Index r0 = J * rows_block, hi = std::min(D, r0 + rows_block);
    double* wJ = w + offset(J);
    std::memset(wJ, 0, sizeof(double) * static_cast<std::size_t>(Kp * (D - r0)));
    Index j = r0;
    for (; j + NR <= hi; j += NR) column_group_rows<V, NR>(q, ld, D, j, x, wJ, r0, t);
    for (; j < hi; ++j) column_group_rows<V, 1>(q, ld, D, j, x, wJ, r0, t);  // the last block's ragged end
  };
  if (!pool || !pool->try_run(blocks, task))
    for (Index J = 0; J < blocks; ++J) task(J);
  // y = t + w_0 + w_1 + ..., in block order (repeatable for any thread count).
  for (Index J = 0; J < blocks; ++J) {
    const double* wJ = w + offset(J);
    for (Index e = 0, n = Kp * (D - J * rows_block); e < n; ++e) t[Kp * J * rows_block + e] += wJ[e];
  }
  from_lanes(t, Kp, k0, kc, Yt);
}

}  // namespace

void symmetric_product_rows(const Matrix& Q, const Matrix& Xt, Matrix& Yt, WorkerPool* pool) {
  const Index D = Q.rows();
  if (Q.cols() != D)
    throw std::invalid_argument("symmetric_product_rows(): expected a square Q, got " + std::to_string(Q.rows()) +
                                " x " + std::to_string(Q.cols()));
  if (Xt.cols() != D)
    throw std::invalid_argument("symmetric_product_rows(): expected right-hand sides of length " +
                                std::to_string(D) + " (Xt with " + std::to_string(D) + " columns), got " +
                                std::to_string(Xt.cols()));
  const Index K = Xt.rows();
  Yt.resize(K, D);
  // Eight lanes per pass over Q (one vector with AVX-512): at D = 1275 the
  // kernel ran at ~80 GFLOP/s on 8 right-hand sides and ~53 on 16 in one pass
  // of two vectors (half the columns per group), so more right-hand sides
  // take several passes.
  for_lane_chunks<(8 + W - 1) / W>(K, [&](auto V, Index k0, Index kc) { rows_chunk<decltype(V)::value>(Q, Xt, k0, kc, Yt, pool); });
}

}  // namespace flowsense
