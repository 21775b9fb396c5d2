#include "flowsense/core/gram_matrix.hpp"

#include <algorithm>

#include "flowsense/core/aligned_doubles.hpp"
#include "flowsense/core/worker_pool.hpp"
#include "simd_lanes.hpp"

namespace flowsense {

namespace {

using simd::vec;
using simd::W;

// A tile of Q in registers: MR = 3W rows (three panels of W columns of M)
// by W columns, 3W accumulators (24 zmm of 32 with AVX-512, 12 ymm of 16
// with AVX, 6 xmm with SSE2), three loads and W broadcasts per row of M.
constexpr Index MR = 3 * W;
// Rows of M per k-block. A B panel (KC x W doubles, 16 KB with AVX-512)
// is reused by every tile of a row block, whose A panels (MC x KC, 192 KB)
// stay in L2 (1 MB). Measured at paper 003's size on one thread (CPU time,
// load ~4): KC 128..512 and MC 4..12 tiles all within 92-98 ms.
constexpr Index KC = 256;
// Rows of Q per task (a multiple of MR): 14 tasks at D = 1275, so that
// two threads can balance the unequal row blocks.
constexpr Index MC = 4 * MR;

// C(0 .. MR, 0 .. W) = (first ? 0 : C) + sum over kc rows of a b^T, where
// `a` holds three panels `as` doubles apart and `b` one panel, each W
// doubles per row of M; C is column-major with leading dimension ldc.
inline void micro_kernel(Index kc, const double* a, Index as, const double* b, double* c, Index ldc,
                         bool first) {
  vec acc[3][W];
#pragma GCC unroll 8
  for (int j = 0; j < W; ++j)
    for (int r = 0; r < 3; ++r) acc[r][j] = first ? vec{} : simd::load(c + j * ldc + r * W);
  for (Index k = 0; k < kc; ++k) {
    const vec a0 = simd::load(a + k * W), a1 = simd::load(a + as + k * W), a2 = simd::load(a + 2 * as + k * W);
#pragma GCC unroll 8
    for (int j = 0; j < W; ++j) {
      const vec bj = simd::broadcast(b[k * W + j]);
      acc[0][j] += a0 * bj;
      acc[1][j] += a1 * bj;
      acc[2][j] += a2 * bj;
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < W; ++j)
    for (int r = 0; r < 3; ++r) simd::store(c + j * ldc + r * W, acc[r][j]);
}

}  // namespace

void gram_matrix(const Matrix& M, Matrix& Q, WorkerPool* pool) {
  const Index m = M.rows(), D = M.cols();
  Q.resize(D, D);
  if (D == 0) return;
  if (m == 0) {
    Q.setZero();
    return;
  }
  // Panels of W columns of M, zero columns up to a whole number of tiles.
  const Index panels = (D + MR - 1) / MR * 3, Dp = panels * W;
  // A k-block packed (rows r0 .. r0 + kc): its panels one after another,
  // each kc rows of W doubles (row k of the panel's W columns), so that the
  // kernel streams contiguous memory. Two slabs: one is multiplied while
  // the next block of M is packed into the other.
  AlignedDoubles slab_memory;
  double* const slabs = slab_memory.reserve(2 * KC * Dp);
  const double* src = M.data();
  constexpr Index pack_panels = 24;
  const Index pack_tasks = (panels + pack_panels - 1) / pack_panels;
  // Packs task t's panels of rows r0 .. r0 + kc into `to`: W columns read
  // side by side, one row of W written at a time.
  auto pack = [&](Index t, Index r0, Index kc, double* to) {
    for (Index p = t * pack_panels; p < std::min(panels, (t + 1) * pack_panels); ++p) {
      double* dst = to + p * kc * W;
      const double* cols[W];
      for (int l = 0; l < W; ++l) cols[l] = p * W + l < D ? src + (p * W + l) * m + r0 : nullptr;
      if (p * W + W <= D) {
        for (Index k = 0; k < kc; ++k)
#pragma GCC unroll 8
          for (int l = 0; l < W; ++l) dst[k * W + l] = cols[l][k];
      } else {
        for (Index k = 0; k < kc; ++k)
          for (int l = 0; l < W; ++l) dst[k * W + l] = cols[l] ? cols[l][k] : 0.0;
      }
    }
  };
  // Product task t adds block (slab, r0, kc) to rows [i0, i1) of Q's lower
  // triangle, written in place (tiles over Q's edge through a local tile;
  // the few entries above the diagonal that diagonal tiles also compute are
  // overwritten by the mirror at the end). The last row block, which has
  // the most columns, is task 0 (tasks are claimed in increasing order).
  const Index row_blocks = (Dp + MC - 1) / MC;
  double* const q = Q.data();
  const double* slab = nullptr;
  Index r0 = 0, kc = 0;
  auto multiply = [&](Index t) {
    const Index i0 = (row_blocks - 1 - t) * MC, i1 = std::min(Dp, i0 + MC);
    const Index stride = kc * W;  // between panels
    const bool first = r0 == 0;
    for (Index j0 = 0; j0 < i1; j0 += W) {
      const double* b = slab + (j0 / W) * stride;
      for (Index ti = std::max(i0, j0 / MR * MR); ti < i1; ti += MR) {  // tiles with a row i >= j0
        const double* a = slab + (ti / W) * stride;
        if (ti + MR <= D && j0 + W <= D) {
          micro_kernel(kc, a, stride, b, q + j0 * D + ti, D, first);
        } else {
          alignas(64) double tile[W * MR];
          const Index rows = std::min(MR, D - ti), cols = std::min<Index>(W, D - j0);
          if (!first)
            for (Index j = 0; j < cols; ++j)
              for (Index i = 0; i < rows; ++i) tile[j * MR + i] = q[(j0 + j) * D + ti + i];
          micro_kernel(kc, a, stride, b, tile, MR, first);
          for (Index j = 0; j < cols; ++j)
            for (Index i = 0; i < rows; ++i) q[(j0 + j) * D + ti + i] = tile[j * MR + i];
        }
      }
    }
  };
  // Small builds stay on the caller: at Example 1.1's size (m = 240,
  // D = 465, 52 Mflop) two threads took 0.97 ms against 0.61 on one.
  const double flops = static_cast<double>(m) * static_cast<double>(D) * static_cast<double>(D + 1);
  const bool threaded = flops >= gram_matrix_threaded_flops && pool;
  // Run n multiplies block n - 1 and packs block n. Every entry of Q sums
  // its k-blocks in the same order whatever thread runs a task: the same
  // bits for every thread count.
  const Index k_blocks = (m + KC - 1) / KC;
  for (Index n = 0; n <= k_blocks; ++n) {
    const Index next_r0 = n * KC, next_kc = n < k_blocks ? std::min(KC, m - next_r0) : 0;
    double* const to = slabs + (n % 2) * KC * Dp;
    slab = slabs + ((n + 1) % 2) * KC * Dp;
    r0 = (n - 1) * KC;
    kc = n > 0 ? std::min(KC, m - r0) : 0;
    const Index products = n > 0 ? row_blocks : 0, packs = next_kc > 0 ? pack_tasks : 0;
    auto task = [&](Index t) {
      if (t < products)
        multiply(t);
      else
        pack(t - products, next_r0, next_kc, to);
    };
    if (!threaded || !pool->try_run(products + packs, task))
      for (Index t = 0; t < products + packs; ++t) task(t);
  }
  Q.triangularView<Eigen::StrictlyUpper>() = Q.transpose();
}

}  // namespace flowsense
