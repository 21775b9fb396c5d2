// Issue 5, problem 6: the factor flow's right-hand side alone, against a
// roofline that this program measures on the machine it runs on.
//
//   bench_kernels [--quick] [--repeats N] [--threads T] [--sizes d:m,d:m,...]
//
// Machine: a STREAM-like read (the faster of Eigen's sum and an eight-
// accumulator SIMD sum over an array; at 256 MB for memory, and at each
// kernel's own working-set size, so that operators that sit in the caches
// are held to the caches' bandwidth), and for peak flops the
// larger of a DGEMM (Eigen, n = 1024) and a loop of independent FMAs on
// SIMD registers (the core's own limit: with AVX-512 Eigen's DGEMM reaches
// only part of it, and the batched kernels more than Eigen's DGEMM, so a
// roofline on DGEMM alone would not bound them). All on one thread, median
// of the repeats (the FMA loop: best of many short runs); the T-thread rows
// are held to the same read on T threads (each its own share of the
// buffer) and T times the peak. --sizes restricts the table to the given (d, m) pairs.
//
// Kernels, per right-hand side U' = -2c A*(A(UU^T) - b) U with U d x d
// (flow/factor_flow.hpp, flow/batch_flow.hpp):
//   plain    M x and M^T r: 16 m D bytes, 4 m D + 4 d^3 flops;
//            plain<T>T: the same on T threads (core/block_gemv.hpp: each
//            thread owns a range of M's columns in both products)
//   normal   Q x:           4 D(D+1) bytes (the lower triangle, core/symmetric_panels.hpp),
//                           2 D^2 + 4 d^3 flops (Q = M^T M, built once)
//   batched  K = 8 members by one product (normal form where the cost model
//            picks it, else plain; flow/batch_flow.hpp), per member:
//            4 D(D+1) / K bytes (Q's lower triangle, read once for all K) or
//            16 m D / K (M streamed twice), same flops as one member;
//            batch8N<T>T, batch8P<T>T: the same on T threads (the
//            loss's pool, SensingLoss::worker_pool, in either form).
// Roofline time = max(bytes / bandwidth, flops / peak); "reached" is that
// bound over the measured median time (1.0 = at the roofline); "vs DGEMM"
// the same with Eigen's DGEMM rate as the peak (the definition of earlier
// tables, which the batched kernels exceed). The batched rows count 3 d^3
// flops for X = U U^T and S U (the batch computes one triangle of X).
//
// Sizes: d in {30, 50, 100, 200}, m = 4 r d with r = 2 (Example 1.1's
// m = 240 at d = 30) and m = 5000 (paper 003). The normal form is skipped
// where the cost model rejects it (D > 2m: Q would stream more than M twice,
// and building it would take minutes).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/worker_pool.hpp"
#include "flowsense/flow/batch_flow.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/loss/operator_form.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"

using namespace flowsense;
using Clock = std::chrono::steady_clock;

namespace {

/// Median seconds of `reps` calls of f (after one warm-up call), each timed
/// as a loop long enough (>= min_seconds) to defeat the clock's resolution.
template <class F>
double median_seconds(F&& f, int reps, double min_seconds = 0.02) {
  f();
  int inner = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) f();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s >= min_seconds || inner >= (1 << 20)) break;
    inner *= 2;
  }
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

volatile double sink = 0;

/// The 1-minute load average (other processes share the cores: the numbers
/// are only as good as the machine was quiet).
double load_average() {
  double l = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

#if defined(__AVX512F__)
typedef double vec __attribute__((vector_size(64)));
#elif defined(__AVX__)
typedef double vec __attribute__((vector_size(32)));
#else
typedef double vec __attribute__((vector_size(16)));
#endif
constexpr int lanes = sizeof(vec) / sizeof(double);

/// The sum of a[0..n) with eight independent vector accumulators: a read
/// with as many loads in flight as the core allows. Eigen's sum() alone
/// understates the bandwidth of a cache: at 900 KB (in L2) 129 GB/s against
/// 168 GB/s for this loop on an AVX-512 core (equal from memory), and a
/// roofline on the lower figure would let a kernel there look closer to it
/// than it is.
double simd_sum(const double* a, Index n) {
  constexpr int chains = 8;
  vec acc[chains] = {};
  Index i = 0;
  for (; i + chains * lanes <= n; i += chains * lanes)
    for (int c = 0; c < chains; ++c) {
      vec v;
      std::memcpy(&v, a + i + c * lanes, sizeof v);
      acc[c] += v;
    }
  double s = 0;
  for (int c = 0; c < chains; ++c)
    for (int l = 0; l < lanes; ++l) s += acc[c][l];
  for (; i < n; ++i) s += a[i];
  return s;
}

/// Bytes/s of reading `bytes` bytes once: the faster of Eigen's sum and
/// simd_sum (each the median of reps).
double read_bandwidth(std::size_t bytes, int reps) {
  const Index n = static_cast<Index>(bytes / sizeof(double));
  Vector a = Vector::Random(n);
  const double eigen = median_seconds([&] { sink = sink + a.sum(); }, reps, 0.05);
  const double simd = median_seconds([&] { sink = sink + simd_sum(a.data(), n); }, reps, 0.05);
  return static_cast<double>(n) * sizeof(double) / std::min(eigen, simd);
}

/// The same on a pool's T threads, each summing a fixed 1/T of the buffer (as
/// the kernels split their operands): the cores' caches together, the
/// bandwidth that bounds the T-thread rows (one core's would let them pass
/// 100% of "their" roofline).
double read_bandwidth(std::size_t bytes, int reps, WorkerPool& pool) {
  const Index n = static_cast<Index>(bytes / sizeof(double)), T = pool.threads();
  Vector a = Vector::Random(n);
  std::vector<double> part(static_cast<std::size_t>(T));
  auto seconds = [&](bool simd) {
    return median_seconds(
        [&] {
          pool.try_run(T, [&](Index k) {
            const Index first = n * k / T, count = n * (k + 1) / T - first;
            part[std::size_t(k)] = simd ? simd_sum(a.data() + first, count) : a.segment(first, count).sum();
          });
          sink = sink + part[0];
        },
        reps, 0.05);
  };
  return static_cast<double>(n) * sizeof(double) / std::min(seconds(false), seconds(true));
}

/// Flops/s of independent FMA chains on SIMD registers (twelve vectors,
/// so that the FMA latency is hidden): the core's peak, without memory. The
/// best of many short runs (~25 us each), since a run that the scheduler
/// interrupts measures the other processes, not the core.
double fma_peak(int reps) {
  constexpr int chains = 12, steps = 4096;
  const volatile double va = 0.999999, vb = 1e-7;
  const double a = va, b = vb;
  vec r[chains];
  for (int c = 0; c < chains; ++c)
    for (int l = 0; l < lanes; ++l) r[c][l] = 1.0 + 1e-3 * (c + l);
  double best = 1e300;
  for (int rep = 0; rep < 100 * reps; ++rep) {
    const auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i)
      for (int c = 0; c < chains; ++c) r[c] = r[c] * a + b;
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  double s = 0;
  for (int c = 0; c < chains; ++c)
    for (int l = 0; l < lanes; ++l) s += r[c][l];
  sink = sink + s;
  return 2.0 * lanes * chains * steps / best;
}

double dgemm_flops(Index n, int reps) {
  const Matrix A = Matrix::Random(n, n), B = Matrix::Random(n, n);
  Matrix C(n, n);
  const double sec = median_seconds([&] { C.noalias() = A * B; }, reps, 0.2);
  sink = sink + C(0, 0);
  return 2.0 * n * n * n / sec;
}

struct Roof {
  double bytes, flops, bandwidth;
};

double roof_seconds(const Roof& r, double peak) { return std::max(r.bytes / r.bandwidth, r.flops / peak); }

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int reps = 7, threads = 2;
  std::vector<std::pair<Index, Index>> sizes;  // (d, m); empty: the standard set
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) {
      const std::string list = argv[++i];
      std::size_t start = 0;
      while (start <= list.size()) {
        const std::size_t end = std::min(list.find(',', start), list.size());
        const std::string item = list.substr(start, end - start);
        long d = 0, m = 0;
        char extra = 0;
        if (std::sscanf(item.c_str(), "%ld:%ld%c", &d, &m, &extra) != 2 || d < 1 || m < 1) {
          std::fprintf(stderr, "bench_kernels: --sizes expects d:m pairs with d, m >= 1 separated by commas, got '%s'\n",
                       item.c_str());
          return 2;
        }
        sizes.emplace_back(d, m);
        start = end + 1;
      }
    } else {
      std::fprintf(stderr, "usage: bench_kernels [--quick] [--repeats N] [--threads T] [--sizes d:m,d:m,...]\n");
      return 2;
    }
  }
  if (quick) reps = std::min(reps, 3);

  std::printf("load average at start: %.2f (2 cores: above ~1 the numbers are pessimistic)\n", load_average());
  const double mem_bw = read_bandwidth(std::size_t(256) << 20, reps);
  const double dgemm = dgemm_flops(quick ? 512 : 1024, reps), fma = fma_peak(reps);
  const double peak = std::max(dgemm, fma);
  std::printf("machine (one thread): memory read %.1f GB/s (256 MB STREAM-like sum), DGEMM %.1f GFLOP/s (Eigen), "
              "FMA loop %.1f GFLOP/s\n",
              mem_bw / 1e9, dgemm / 1e9, fma / 1e9);
  std::printf("roofline = max(bytes / bandwidth at the kernel's working set, flops / peak %.1f GFLOP/s); reached = "
              "roofline / measured\n\n",
              peak / 1e9);
  std::printf("%4s %5s %6s | %-7s %10s %9s %9s %10s %8s %8s | %s\n", "d", "m", "D", "form", "time/RHS", "GB/s(ws)",
              "bytes-bd", "flops-bd", "reached", "vs DGEMM", "ratio to plain");

  if (sizes.empty())
    for (const Index d : quick ? std::vector<Index>{30, 50} : std::vector<Index>{30, 50, 100, 200})
      for (const Index m : {4 * 2 * d, Index(5000)}) sizes.emplace_back(d, m);
  const Index K = 8;
  for (const auto& [d, m] : sizes) {
    {
      const Index D = packed_size(d);
      auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 7);
      const Problem pb = Problem::noiseless(op, planted_trace_one(d, 2, 8));
      const Matrix U = random_factor(d, d, d, 1.0, 9);
      const double d3 = 4.0 * double(d) * d * d;  // X = U U^T and S U
      const KernelCost model = kernel_cost(d, m, d);  // two passes: normal rows wherever Q is smaller
      Matrix out;

      // T-thread rows: the T-thread bandwidth (in roof) and T cores' peak.
      auto row = [&](const char* form, double sec, const Roof& roof, double plain_sec, int T = 1) {
        const double bound = roof_seconds(roof, T * peak);
        std::printf("%4ld %5ld %6ld | %-7s %8.1f us %9.1f %7.1f us %8.1f us %7.0f%% %7.0f%% | %s\n", long(d),
                    long(m), long(D), form, sec * 1e6, roof.bandwidth / 1e9, roof.bytes / roof.bandwidth * 1e6,
                    roof.flops / (T * peak) * 1e6, 100 * bound / sec, 100 * roof_seconds(roof, T * dgemm) / sec,
                    plain_sec > 0 ? (std::to_string(plain_sec / sec).substr(0, 5) + "x").c_str() : "1x");
        std::fflush(stdout);
      };

      OperatorFormOptions plain_opt;
      plain_opt.form = OperatorForm::plain;
      const FactorFlow plain(SensingLoss(pb, 0.25, plain_opt));
      const double bw_m = read_bandwidth(std::size_t(8) * m * D, reps);
      std::unique_ptr<WorkerPool> pool;
      if (threads > 1) pool = std::make_unique<WorkerPool>(threads);
      const double bw_m_T = pool ? read_bandwidth(std::size_t(8) * m * D, reps, *pool) : bw_m;
      // Two factors in turn: the loss keeps the last residual (plain form)
      // and the last Q x (normal form) per thread (src/sensing_loss.cpp), and
      // the same U every call would time those memos instead of the operator.
      Matrix U2 = U;
      U2(0, 0) += 1e-3;
      bool flip = false;
      auto alternate = [&]() -> const Matrix& { return (flip = !flip) ? U2 : U; };
      // The plain form reads its measurement-major copy of M once per RHS
      // (core/fused_residual.hpp); `plain2p`, the two passes over M itself
      // that it replaced (core/block_gemv.hpp), is measured beside it.
      const double t_plain = median_seconds([&] { plain(alternate(), out, 0.0); }, reps);
      row("plain", t_plain, {8.0 * m * D, 4.0 * m * D + d3, bw_m}, 0);
      {
        OperatorFormOptions two_pass_opt = plain_opt;
        two_pass_opt.fused_memory_limit = 0;
        const FactorFlow two_pass(SensingLoss(pb, 0.25, two_pass_opt));
        row("plain2p", median_seconds([&] { two_pass(alternate(), out, 0.0); }, reps),
            {16.0 * m * D, 4.0 * m * D + d3, bw_m}, t_plain);
      }
      if (threads > 1) {  // fixed row blocks of M, one range per thread (same bits)
        OperatorFormOptions threaded_opt = plain_opt;
        threaded_opt.threads = threads;
        const FactorFlow threaded(SensingLoss(pb, 0.25, threaded_opt));
        const double t_thr = median_seconds([&] { threaded(alternate(), out, 0.0); }, reps);
        char name[16];
        std::snprintf(name, sizeof name, "plain%dT", threads);
        row(name, t_thr, {8.0 * m * D, 4.0 * m * D + d3, bw_m_T}, t_plain, threads);
      }

      const bool normal_ok = model.normal_cheaper;
      OperatorFormOptions normal_opt;
      normal_opt.form = OperatorForm::normal;
      std::unique_ptr<FactorFlow> normal;
      double t_normal = 0, bw_half = 0, bw_half_T = 0;
      if (normal_ok) {
        const auto t0 = Clock::now();
        normal = std::make_unique<FactorFlow>(SensingLoss(pb, 0.25, normal_opt));
        normal->loss().normal_form();  // Q is built at the first use
        const double build = std::chrono::duration<double>(Clock::now() - t0).count();
        // The single and the batched product read one triangle of Q.
        const double half_q = 4.0 * D * (D + 1);
        bw_half = read_bandwidth(static_cast<std::size_t>(half_q), reps);
        bw_half_T = pool ? read_bandwidth(static_cast<std::size_t>(half_q), reps, *pool) : bw_half;
        t_normal = median_seconds([&] { (*normal)(alternate(), out, 0.0); }, reps);
        row("normal", t_normal, {half_q, 2.0 * D * D + d3, bw_half}, t_plain);
        std::printf("%18s   (building Q: %.0f ms = %.0f plain RHS; %.1f GFLOP/s)\n", "", build * 1e3,
                    build / t_plain, double(m) * D * (D + 1) / build / 1e9);
        if (threads > 1) {
          normal_opt.threads = threads;
          const auto t1 = Clock::now();
          const FactorFlow threaded(SensingLoss(pb, 0.25, normal_opt));
          threaded.loss().normal_form();
          const double build_T = std::chrono::duration<double>(Clock::now() - t1).count();
          std::printf("%18s   (building Q on %d threads: %.0f ms, %.2fx; core/gram_matrix.hpp)\n", "", threads,
                      build_T * 1e3, build / build_T);
          const double t_thr = median_seconds([&] { threaded(alternate(), out, 0.0); }, reps);
          char name[16];
          std::snprintf(name, sizeof name, "normal%dT", threads);
          row(name, t_thr, {half_q, 2.0 * D * D + d3, bw_half_T}, t_plain, threads);
        }
      } else {
        std::printf("%18s   normal: skipped, the cost model keeps plain (D = %ld > 2m; Q = %.0f MB)\n", "", long(D),
                    8.0 * D * D / 1e6);
      }

      // Batched: K members; the normal form if the model picked it.
      normal_opt.threads = 1;
      const BatchFactorFlow batch(SensingLoss(pb, 0.25, normal_ok ? normal_opt : plain_opt), K);
      std::vector<Matrix> members;
      for (Index k = 0; k < K; ++k) members.push_back(random_factor(d, d, d, 1.0, 20 + std::uint64_t(k)));
      const Matrix stacked = stack_members(members);
      const double t_batch = median_seconds([&] { batch(stacked, out, 0.0); }, reps) / K;
      const double d3_batch = 3.0 * double(d) * d * d;  // one triangle of X = U U^T, and S U
      const Roof batch_roof = normal_ok ? Roof{4.0 * D * (D + 1) / K, 2.0 * D * D + d3_batch, bw_half}
                                        : Roof{16.0 * m * D / K, 4.0 * m * D + d3_batch, bw_m};
      row(normal_ok ? "batch8N" : "batch8P", t_batch, batch_roof, t_plain);
      if (normal_ok) std::printf("%18s   (batched vs normal: %.2fx per member)\n", "", t_normal / t_batch);
      if (threads > 1) {  // the batched product on a worker pool (same bits)
        OperatorFormOptions threaded_opt = normal_ok ? normal_opt : plain_opt;
        threaded_opt.threads = threads;
        const BatchFactorFlow batch_thr(SensingLoss(pb, 0.25, threaded_opt), K);
        const double t_thr = median_seconds([&] { batch_thr(stacked, out, 0.0); }, reps) / K;
        char name[16];
        std::snprintf(name, sizeof name, "batch8%c%dT", normal_ok ? 'N' : 'P', threads);
        Roof roof_T = batch_roof;
        roof_T.bandwidth = normal_ok ? bw_half_T : bw_m_T;
        row(name, t_thr, roof_T, t_plain, threads);
      }
    }
  }
  std::printf("\nload average at end: %.2f%s\n", load_average(), double(sink) == 12345.678 ? " " : "");
  return 0;
}
