#include "flowsense/core/symmetric_panels.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "flowsense/core/worker_pool.hpp"
#include "simd_lanes.hpp"

namespace flowsense {

namespace {

using namespace simd;

constexpr Index R = 8;                  // rows per segment and columns per panel
constexpr int V = R / W;                // vectors per segment
constexpr Index panels_per_task = 8;    // fixed, so results do not depend on threads
constexpr Index max_parts = 64;         // threads that get a part of their own

/// Offset (in doubles) of panel g among G panels: panel g' holds G - g'
/// blocks of R x R.
Index panel_offset(Index g, Index G) { return R * R * (g * G - g * (g - 1) / 2); }

/// The first task of part k of n (threads): the task boundary nearest to k/n
/// of Q's blocks (panel g holds G - g of them, so the first tasks are the
/// largest: at D = 1275 the two parts are tasks 0-5 and 6-19, 6552 and 6328
/// blocks).
Index part_start(Index k, Index n, Index tasks, Index G) {
  const Index target = G * (G + 1) / 2 * k / n;
  auto blocks_before = [&](Index J) { return panel_offset(std::min(G, J * panels_per_task), G) / (R * R); };
  Index best = 0;
  for (Index J = 1; J <= tasks; ++J)
    if (std::abs(blocks_before(J) - target) < std::abs(blocks_before(best) - target)) best = J;
  return best;
}

/// A number for the calling thread, fixed for its life (0, 1, 2, ... in the
/// order threads first ask).
Index thread_rank() {
  static std::atomic<Index> next{0};
  thread_local const Index rank = next++;
  return rank;
}

#if defined(__AVX512F__)
/// For eight vectors of eight lanes, the vector of their sums: lane k is
/// ((a_k[0] + a_k[1]) + (a_k[2] + a_k[3])) + ((a_k[4] + a_k[5]) + (a_k[6] + a_k[7])).
template <class V8>
V8 hsum8(const V8 (&a)[8]) {
  auto pairs = [](V8 u, V8 v) {  // [u0+u1, v0+v1, u2+u3, v2+v3, ...]
    return __builtin_shufflevector(u, v, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(u, v, 1, 9, 3, 11, 5, 13, 7, 15);
  };
  auto quads = [](V8 u, V8 v) {  // halves of 128 bits: [u01, u23 | v01, v23 | ...] -> sums of four
    return __builtin_shufflevector(u, v, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(u, v, 2, 3, 10, 11, 6, 7, 14, 15);
  };
  const V8 c0 = quads(pairs(a[0], a[1]), pairs(a[2], a[3])), c1 = quads(pairs(a[4], a[5]), pairs(a[6], a[7]));
  return __builtin_shufflevector(c0, c1, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(c0, c1, 4, 5, 6, 7, 12, 13, 14, 15);
}
#endif

/// Panel g (columns j0 = R g ..) against x (padded with zeros to R G): w[i -
/// r0] += Q(i, j) x[j] for i > j, and t[j] = sum_{i > j} Q(i, j) x[i].
void panel_product(const double* p, Index g, Index G, const double* x, double* w, Index r0, double* t) {
  vec xj[R], acc[R][V];
  for (Index k = 0; k < R; ++k) {
    xj[k] = broadcast(x[R * g + k]);
    for (int v = 0; v < V; ++v) acc[k][v] = broadcast(0.0);
  }
  // Per block: R V aligned loads of Q, V of x, V loads and stores of w and
  // 2 R V FMAs. The AXPY into w is split into two chains (even and odd
  // columns) to halve its latency; blocks are independent of each other.
  for (Index b = g; b < G; ++b, p += R * R) {
    for (int v = 0; v < V; ++v) {
      const vec xi = load(x + R * b + v * W);
      vec q[R];
      for (Index k = 0; k < R; ++k) q[k] = load(p + R * k + v * W);
      double* wp = w + R * b - r0 + v * W;
      vec even = load(wp), odd = q[1] * xj[1];
      for (Index k = 0; k < R; k += 2) even += q[k] * xj[k];
      for (Index k = 3; k < R; k += 2) odd += q[k] * xj[k];
      store(wp, even + odd);
      for (Index k = 0; k < R; ++k) acc[k][v] += q[k] * xi;
    }
  }
#if defined(__AVX512F__)
  // One vector per column (W = R): add each one's lanes by a tree of
  // shuffles, all eight columns at once (t[R g + k] = lane k of the result).
  // Summed lane by lane, the eight sums took ~100 instructions a panel
  // through the stack, 3% of the product at D = 1275.
  static_assert(W == R && V == 1);
  vec a[R];
  for (Index k = 0; k < R; ++k) a[k] = acc[k][0];
  store(t + R * g, hsum8(a));
#else
  for (Index k = 0; k < R; ++k) {
    vec s = acc[k][0];
    for (int v = 1; v < V; ++v) s += acc[k][v];
    t[R * g + k] = sum(s);
  }
#endif
}

}  // namespace

SymmetricPanels::SymmetricPanels(const Matrix& Q) : size_(Q.rows()) {
  if (Q.cols() != Q.rows())
    throw std::invalid_argument("SymmetricPanels: expected a square Q, got " + std::to_string(Q.rows()) + " x " +
                                std::to_string(Q.cols()));
  const Index D = size_;
  groups_ = (D + R - 1) / R;
  const Index G = groups_, n = panel_offset(G, G);
  double* all = panels_.reserve(n);
  std::fill(all, all + n, 0.0);
  for (Index g = 0; g < G; ++g) {
    double* p = panels_.data() + panel_offset(g, G);
    for (Index k = 0; k < R && R * g + k < D; ++k) {
      const Index j = R * g + k;
      // Block b, column k, row r sits at p + R R (b - g) + R k + r.
      for (Index i = j + 1; i < D; ++i) p[R * R * (i / R - g) + R * k + i % R] = Q(i, j);
    }
  }
  diagonal_ = Q.diagonal();
}

void SymmetricPanels::product(const Vector& x, Vector& y, WorkerPool* pool) const {
  const Index D = size_, G = groups_, Dp = R * G;
  if (x.size() != D)
    throw std::invalid_argument("SymmetricPanels::product(): expected x of length " + std::to_string(D) + ", got " +
                                std::to_string(x.size()));
  y.resize(D);
  if (D == 0) return;
  const Index tasks = (G + panels_per_task - 1) / panels_per_task, rows_per_task = R * panels_per_task;
  auto w_offset = [&](Index J) { return J * Dp - rows_per_task * J * (J - 1) / 2; };  // of w_J, rows J*64 .. Dp-1
  // Workspace: x padded with zeros, t, then every task's w_J; aligned, and
  // kept per calling thread so that the hot loop does not allocate.
  thread_local AlignedDoubles workspace;
  double* xp = workspace.reserve(2 * Dp + w_offset(tasks));
  double* t = xp + Dp;
  double* w = t + Dp;
  std::copy(x.data(), x.data() + D, xp);
  std::fill(xp + D, xp + Dp, 0.0);
  const double* panels = panels_.data();
  auto task = [&](Index J) {
    const Index g0 = J * panels_per_task, g1 = std::min(G, g0 + panels_per_task), r0 = R * g0;
    double* wJ = w + w_offset(J);
    std::fill(wJ, wJ + (Dp - r0), 0.0);
    for (Index g = g0; g < g1; ++g) panel_product(panels + panel_offset(g, G), g, G, xp, wJ, r0, t);
  };
  // Every other product runs its tasks backwards, so that it starts on the
  // panels the previous one read last, which are still in cache: at Example
  // 1.1's size the panels (0.9 MB) fill most of one core's L2, and a scan in
  // one direction evicts each panel just before it is read again (7.3 -> 6.1
  // us a product there, measured). The tasks write separate partial sums,
  // added in task order below, so the bits do not depend on the direction.
  // (A copy of the caller's flag: inside the lambda on a worker, the name
  // would denote the worker's own thread_local, which never flips.)
  thread_local bool flip = false;
  flip = !flip;
  const bool backwards = flip;
  auto run = [&](Index first, Index last) {
    if (backwards)
      for (Index J = last; J-- > first;) task(J);
    else
      for (Index J = first; J < last; ++J) task(J);
  };
  // On T threads the tasks are cut into T parts of consecutive tasks with
  // about equal numbers of blocks, and each thread runs one part, the same
  // on every call: part 0 the calling thread, part k > 0 a worker chosen by
  // its rank, whichever of the pool's tasks it claims (the pool hands them
  // to whichever thread asks first). So a core reads the same part of Q on
  // every call, and going back and forth over it finds the end of its last
  // pass in its own L2. When the 20 tasks of paper 003's size (D = 1275)
  // went one by one to whichever core was free, the product took 52.6 us on
  // two threads; with the parts 44.4 us (microbenchmark on random Q, medians
  // of 7 alternating runs; docs/performance_kernels.md). A thread done with
  // its part takes the remaining tasks of the others from their far ends, so
  // that a worker that starts late (or not at all) leaves only some of its
  // tasks to the others: without that, fixed parts lost at Example 1.1's
  // size (D = 465, 8.5 against 7.7 us), where the caller waited for the
  // worker's late start and its larger part.
  const Index parts = pool ? std::min<Index>({pool->threads(), tasks, max_parts}) : 1;
  const std::thread::id caller = std::this_thread::get_id();
  std::array<std::atomic<std::uint64_t>, max_parts> left;  // part k's unclaimed tasks [lo, hi), as lo << 32 | hi
  for (Index k = 0; k < parts; ++k)
    left[k].store(std::uint64_t(part_start(k, parts, tasks, G)) << 32 | std::uint64_t(part_start(k + 1, parts, tasks, G)),
                  std::memory_order_relaxed);
  auto claim = [&](Index k, bool front) -> Index {  // a task of part k from its front or back, or -1
    std::uint64_t r = left[k].load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t lo = r >> 32, hi = r & 0xffffffffu;
      if (lo >= hi) return -1;
      if (left[k].compare_exchange_weak(r, front ? (lo + 1) << 32 | hi : lo << 32 | (hi - 1), std::memory_order_relaxed))
        return static_cast<Index>(front ? lo : hi - 1);
    }
  };
  auto part = [&](Index) {
    const Index own = std::this_thread::get_id() == caller ? 0 : 1 + thread_rank() % (parts - 1);
    for (Index i = 0; i < parts; ++i)  // its own part in this call's direction, then the others' far ends
      for (Index k = (own + i) % parts, J; (J = claim(k, (i == 0) != backwards)) >= 0;) task(J);
  };
  if (parts < 2 || !pool->try_run(parts, part)) run(0, tasks);
  // y = (t + diag x) + w_0 + w_1 + ..., in task order (repeatable for any thread count).
  y = Eigen::Map<const Vector>(t, D) + diagonal_.cwiseProduct(x);
  for (Index J = 0; J < tasks; ++J) {
    const Index r0 = J * rows_per_task;
    y.tail(D - r0) += Eigen::Map<const Vector>(w + w_offset(J), D - r0);
  }
}

}  // namespace flowsense
