#include "flowsense/core/fused_residual.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "flowsense/core/worker_pool.hpp"
#include "simd_lanes.hpp"

namespace flowsense {

namespace {

using namespace simd;

constexpr Index K = fused_residual_blocks;

Index round_up(Index n, Index multiple) { return (n + multiple - 1) / multiple * multiple; }

/// Rows per chunk: the largest C in {4, 2, 1} whose chunk, x and g (C + 2
/// rows of Dp doubles) fit in half of a 1 MB L2, so that the chunk's second
/// use (the AXPY into g) reads it from cache. Four rather than eight: g is
/// loaded and stored once per chunk either way, and eight rows of paper
/// 003's D = 1275 (82 KB) no longer fit in L1 (measured on one core: 64 us
/// with four against 82 us with eight at d = 50, m = 400; 11.0 against
/// 11.5 us at Example 1.1's d = 30, m = 240).
Index rows_per_chunk(Index Dp) {
  constexpr Index budget = 512 * 1024 / sizeof(double);
  for (Index C : {4, 2})
    if ((C + 2) * Dp <= budget) return C;
  return 1;
}

/// Calls f(std::integral_constant<int, C>{}) with the copy's rows per chunk
/// C, so that the kernels' accumulators have compile-time sizes.
template <class F>
void with_chunk(Index chunk, F&& f) {
  switch (chunk) {
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

/// One sweep over the Dp columns of up to two chunks of C consecutive rows
/// (interleaved: entries t..t+W-1 of row k at C t + k W): the dot products
/// <a_k, x> of chunk `dot` into acc (if Dot), and the AXPY
/// g += sum_k weight_k a_k of chunk `axpy` (if Axpy; a chunk whose r is
/// known). Eight independent FMA chains in the
/// dot products (U vectors per row), two in each AXPY (even and odd rows).
/// The arithmetic of each part is the same whether the other runs or not.
/// With Init the AXPY starts from zero instead of loading g (the block's
/// first chunk): the same bits as adding to a zeroed g, without zeroing it
/// first or reading it back. Inlined, so that acc stays in registers.
template <int C, bool Dot, bool Axpy, bool Init = false>
[[gnu::always_inline]] inline void sweep(const double* dot, const double* axpy, Index Dp, const double* x,
                                         const vec* weight, double* g, vec (&acc)[C][8 / C]) {
  constexpr int U = 8 / C;
  for (int k = 0; k < C; ++k)
    for (int u = 0; u < U; ++u) acc[k][u] = broadcast(0.0);
  auto add = [&](Index t) {
    vec even = Init ? vec{} : load(g + t);
    if constexpr (C == 1) {
      store(g + t, even + load(axpy + t) * weight[0]);
    } else {
      vec odd = load(axpy + C * t + W) * weight[1];
      for (int k = 0; k < C; k += 2) even += load(axpy + C * t + k * W) * weight[k];
      for (int k = 3; k < C; k += 2) odd += load(axpy + C * t + k * W) * weight[k];
      store(g + t, even + odd);
    }
  };
  Index t = 0;
  for (; t + U * W <= Dp; t += U * W)
    for (int u = 0; u < U; ++u) {
      const Index tu = t + u * W;
      if constexpr (Dot) {
        const vec xv = load(x + tu);
        for (int k = 0; k < C; ++k) acc[k][u] += load(dot + C * tu + k * W) * xv;
      }
      if constexpr (Axpy) add(tu);
    }
  for (; t < Dp; t += W) {
    if constexpr (Dot) {
      const vec xv = load(x + t);
      for (int k = 0; k < C; ++k) acc[k][0] += load(dot + C * t + k * W) * xv;
    }
    if constexpr (Axpy) add(t);
  }
}

/// Rows [first, last) of block J (whole chunks): r = M x - b on them, and
/// g = sum over them of r_i M_i, chunk by chunk in row order.
///
/// Where two chunks fit in L1 (Example 1.1: 2 x 15 KB), the sweep that
/// computes chunk i's dot products also adds chunk i - 1 into g, so the
/// loads of the two overlap (measured 6.6-6.8 against 7.7-8.2 us a call at
/// d = 30, m = 240). Where they do not (paper 003's D = 1275: 2 x 40 KB),
/// each chunk is added right after its own dot products, while it is still
/// in L1 (58-60 against 82-84 us at m = 400 with the overlapped sweep, whose
/// AXPY then reads from L2). Same arithmetic in both orders, so the same
/// bits.
template <int C>
void block_kernel(const double* rows, Index first, Index last, Index Dp, const double* x, const double* b,
                  double* r, double* g) {
  constexpr int U = 8 / C;
  if (last == first) {  // no rows: g_J = 0
    std::fill(g, g + Dp, 0.0);
    return;
  }
  vec acc[C][U], weight[C];
  const bool overlap = 2 * C * Dp * Index(sizeof(double)) <= 32 * 1024;
  auto finish = [&](Index i) {  // r and the weights of chunk i from acc
    for (int k = 0; k < C; ++k) {
      vec s = acc[k][0];
      for (int u = 1; u < U; ++u) s += acc[k][u];
      r[i + k] = sum(s) - b[i + k];
      weight[k] = broadcast(r[i + k]);
    }
  };
  if (!overlap) {
    for (Index i = first; i < last; i += C) {
      const double* chunk = rows + i * Dp;
      sweep<C, true, false>(chunk, nullptr, Dp, x, weight, g, acc);
      finish(i);
      if (i == first)
        sweep<C, false, true, true>(nullptr, chunk, Dp, x, weight, g, acc);
      else
        sweep<C, false, true>(nullptr, chunk, Dp, x, weight, g, acc);
    }
    return;
  }
  for (Index i = first; i < last; i += C) {
    const double* chunk = rows + i * Dp;
    if (i == first)
      sweep<C, true, false>(chunk, nullptr, Dp, x, weight, g, acc);
    else if (i == first + C)
      sweep<C, true, true, true>(chunk, chunk - C * Dp, Dp, x, weight, g, acc);
    else
      sweep<C, true, true>(chunk, chunk - C * Dp, Dp, x, weight, g, acc);
    finish(i);
  }
  const double* tail = rows + (last - C) * Dp;
  if (last - first == C)  // one chunk: its AXPY is the first
    sweep<C, false, true, true>(nullptr, tail, Dp, x, weight, g, acc);
  else
    sweep<C, false, true>(nullptr, tail, Dp, x, weight, g, acc);
}

}  // namespace

FusedResidual::FusedResidual(const Matrix& M) : rows_(M.rows()), cols_(M.cols()) {
  padded_cols_ = round_up(std::max<Index>(cols_, 1), W);
  chunk_ = rows_per_chunk(padded_cols_);
  // Block J holds chunks [J n / K, (J + 1) n / K) of the n chunks.
  const Index chunks = (rows_ + chunk_ - 1) / chunk_;
  for (Index J = 0; J <= K; ++J) block_start_[J] = chunk_ * (J * chunks / K);
  const Index Mp = block_start_[K], Dp = padded_cols_;
  double* p = chunks_.reserve(Mp * Dp);
  std::fill(p, p + Mp * Dp, 0.0);
  // Chunk by chunk, W columns at a time: entry (i0 + k, j) of M goes to
  // i0 Dp + C (j - l) + k W + l, l = j mod W (no division per entry: the
  // copy is made inside a run's first evaluation).
  const Index C = chunk_;
  for (Index i0 = 0; i0 < rows_; i0 += C) {
    const Index rows = std::min(C, rows_ - i0);
    double* chunk = p + i0 * Dp;
    for (Index j0 = 0; j0 < cols_; j0 += W) {
      const Index lanes = std::min<Index>(W, cols_ - j0);
      for (Index l = 0; l < lanes; ++l)
        for (Index k = 0; k < rows; ++k) chunk[C * j0 + k * W + l] = M(i0 + k, j0 + l);
    }
  }
}

double FusedResidual::bytes() const {
  return 8.0 * static_cast<double>(block_start_[K]) * static_cast<double>(padded_cols_);
}

namespace {

/// dst[0, n) = src[0, n) (zeros if src is null), writing only if the bits
/// differ: the workers read the padded b, and a store, even of the same
/// value, would take the line out of their caches (b is the same in every
/// call of a run).
void assign_if_changed(const double* src, Index n, double* dst) {
  if (src) {
    if (std::memcmp(src, dst, sizeof(double) * n) != 0) std::copy(src, src + n, dst);
  } else if (std::any_of(dst, dst + n, [](double v) { return v != 0.0 || std::signbit(v); })) {
    std::fill(dst, dst + n, 0.0);
  }
}

static_assert(K == 4, "the partial sums are added as (g_0 + g_1) + (g_2 + g_3)");

}  // namespace

namespace {

/// dst[0, n) = v, dst[n, padded) = 0: a vector in the copy's padded length.
void copy_padded(const Vector& v, Index padded, double* dst) {
  std::copy(v.data(), v.data() + v.size(), dst);
  std::fill(dst + v.size(), dst + padded, 0.0);
}

/// y = M x over all padded rows, chunk by chunk (no b, one thread).
template <int C>
void apply_rows(const double* rows, Index Mp, Index Dp, const double* x, double* y) {
  constexpr int U = 8 / C;
  vec acc[C][U], weight[C];
  for (Index i = 0; i < Mp; i += C) {
    sweep<C, true, false>(rows + i * Dp, nullptr, Dp, x, weight, nullptr, acc);
    for (int k = 0; k < C; ++k) {
      vec s = acc[k][0];
      for (int u = 1; u < U; ++u) s += acc[k][u];
      y[i + k] = sum(s);
    }
  }
}

/// g = M^T r over all padded rows (r padded with zeros), chunk by chunk.
template <int C>
void adjoint_rows(const double* rows, Index Mp, Index Dp, const double* r, double* g) {
  constexpr int U = 8 / C;
  vec acc[C][U], weight[C];
  if (Mp == 0) {
    std::fill(g, g + Dp, 0.0);
    return;
  }
  for (Index i = 0; i < Mp; i += C) {
    for (int k = 0; k < C; ++k) weight[k] = broadcast(r[i + k]);
    if (i == 0)
      sweep<C, false, true, true>(nullptr, rows, Dp, nullptr, weight, g, acc);
    else
      sweep<C, false, true>(nullptr, rows + i * Dp, Dp, nullptr, weight, g, acc);
  }
}

}  // namespace

void FusedResidual::apply(const Vector& x, Vector& y) const {
  const Index D = cols_, Dp = padded_cols_, Mp = block_start_[K];
  if (x.size() != D)
    throw std::invalid_argument("FusedResidual::apply(): expected x of length D = " + std::to_string(D) + ", got " +
                                std::to_string(x.size()));
  thread_local AlignedDoubles workspace;  // x padded, then y padded
  double* xp = workspace.reserve(Dp + Mp);
  double* yp = xp + Dp;
  copy_padded(x, Dp, xp);
  const double* rows = chunks_.data();
  with_chunk(chunk_, [&](auto C) { apply_rows<C>(rows, Mp, Dp, xp, yp); });
  y = Eigen::Map<const Vector>(yp, rows_);
}

void FusedResidual::adjoint(const Vector& r, Vector& g) const {
  const Index m = rows_, Dp = padded_cols_, Mp = block_start_[K];
  if (r.size() != m)
    throw std::invalid_argument("FusedResidual::adjoint(): expected r of length m = " + std::to_string(m) +
                                ", got " + std::to_string(r.size()));
  thread_local AlignedDoubles workspace;  // r padded, then g padded
  double* rp = workspace.reserve(Mp + Dp);
  double* gp = rp + Mp;
  copy_padded(r, Mp, rp);
  const double* rows = chunks_.data();
  with_chunk(chunk_, [&](auto C) { adjoint_rows<C>(rows, Mp, Dp, rp, gp); });
  g = Eigen::Map<const Vector>(gp, cols_);
}

void FusedResidual::compute(const Vector& x, const Vector* b, Vector& r, Vector& g, WorkerPool* pool) const {
  const Index m = rows_, D = cols_, Dp = padded_cols_, Mp = block_start_[K];
  if (x.size() != D)
    throw std::invalid_argument("FusedResidual::compute(): expected x of length D = " + std::to_string(D) +
                                ", got " + std::to_string(x.size()));
  if (b && b->size() != m)
    throw std::invalid_argument("FusedResidual::compute(): expected b of length m = " + std::to_string(m) +
                                ", got " + std::to_string(b->size()));
  // Workspace per calling thread (no allocation on the hot path): x and b
  // padded with zeros, r padded, the K partial sums g_J and the two pair
  // sums; tasks on other threads read x and b from it and write their r
  // entries and sums into it.
  thread_local AlignedDoubles workspace;
  double* xp = workspace.reserve(Dp + 2 * Mp + (K + 2) * Dp);
  double* bp = xp + Dp;
  double* rp = bp + Mp;
  double* gp = rp + Mp;
  double* pairs = gp + K * Dp;
  copy_padded(x, Dp, xp);
  assign_if_changed(b ? b->data() : nullptr, m, bp);
  assign_if_changed(nullptr, Mp - m, bp + m);

  const double* rows = chunks_.data();
  auto run_block = [&](Index J, const double* xJ, double* gJ) {
    const Index first = block_start_[J], last = block_start_[J + 1];
    with_chunk(chunk_, [&](auto C) { block_kernel<C>(rows, first, last, Dp, xJ, bp, rp, gJ); });
  };
  // g = (g_0 + g_1) + (g_2 + g_3) for every thread count. A task that
  // computes both blocks of a pair adds them itself, so only the pair's sum
  // crosses to the caller's core.
  const Index tasks = pool ? std::min<Index>(pool->threads(), K) : 1;
  bool summed[2] = {false, false};
  auto task = [&](Index t) {
    const Index J0 = t * K / tasks, J1 = (t + 1) * K / tasks;
    const double* xt = xp;
    double* own = gp;  // the caller's slots for task 0
    if (t > 0) {
      // A task on another core copies x into its own cache first and keeps
      // its partial sums there. Reading the caller's x chunk after chunk
      // slowed the caller's own half by ~2 us (d = 30, m = 240, scratch:
      // 8.0-8.8 against 7.3-7.6 us a call with the copy), and the caller
      // reading two partial sums from this core cost ~1 us, one ~0.5.
      thread_local AlignedDoubles local;
      double* p = local.reserve((K + 1) * Dp);
      std::copy(xp, xp + Dp, p);
      xt = p;
      own = p + Dp;
    }
    for (Index J = J0; J < J1; ++J) {
      const bool whole_pair = J0 <= (J & ~Index(1)) && (J | 1) < J1;
      run_block(J, xt, (whole_pair ? own : gp) + J * Dp);
    }
    for (Index pair = 0; pair < 2; ++pair)
      if (J0 <= 2 * pair && 2 * pair + 1 < J1) {
        Eigen::Map<Vector>(pairs + pair * Dp, Dp) = Eigen::Map<const Vector>(own + 2 * pair * Dp, Dp) +
                                                    Eigen::Map<const Vector>(own + (2 * pair + 1) * Dp, Dp);
        summed[pair] = true;  // read by the caller only after try_run() returns
      }
  };
  const bool threaded = tasks > 1 && pool->try_run(tasks, task);
  if (!threaded) {
    // On one thread, every other call runs the blocks backwards, so that it
    // starts on the rows the previous one read last, which are still in
    // cache (M fills most of one core's L2 at Example 1.1's size, and a scan
    // in one direction evicts each row just before it is read again). Each
    // block writes its own r entries and g_J, so the bits do not depend on
    // the order.
    thread_local bool backwards = false;
    backwards = !backwards;
    if (backwards)
      for (Index J = K; J-- > 0;) run_block(J, xp, gp + J * Dp);
    else
      for (Index J = 0; J < K; ++J) run_block(J, xp, gp + J * Dp);
  }
  // Each entry (g_0 + g_1) + (g_2 + g_3), in one pass over what is left.
  using Map = Eigen::Map<const Vector>;
  auto block = [&](Index J) { return Map(gp + J * Dp, D); };
  auto pair = [&](Index p) { return Map(pairs + p * Dp, D); };
  r = Map(rp, m);
  if (!summed[0] && !summed[1])  // one thread, or no task had a whole pair
    g = (block(0) + block(1)) + (block(2) + block(3));
  else if (summed[0] && summed[1])
    g = pair(0) + pair(1);
  else if (summed[1])
    g = (block(0) + block(1)) + pair(1);
  else
    g = pair(0) + (block(2) + block(3));
}

}  // namespace flowsense
