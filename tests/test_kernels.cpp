// The kernels under the normal operator (issue 5): the half-triangle
// product y = Q x (core/symmetric_panels.hpp), the same with several
// right-hand sides (core/symmetric_product.hpp), and the persistent worker
// pool (core/worker_pool.hpp); and the batched plain form's
// M^T (M X - b 1^T) (core/gram_product.hpp).
//
// Oracle for the product: the same sum in long double from the full Q (both
// triangles), with Higham's bound for a computed sum of D products,
// |y_i - (Qx)_i| <= gamma_D (|Q| |x|)_i (oracles.hpp), checked entrywise.
// Sizes cover the kernel's edge cases: fewer columns than a panel of eight,
// one panel and one column more, a task of 64 columns and one column more,
// several tasks with a ragged last one, and Example 1.1's D = 465. The same oracle for the product
// with several right-hand sides (symmetric_product_rows), over K too.
//
// Q = M^T M itself (core/gram_matrix.hpp) against the same long-double sum
// with gamma_m, exactly symmetric, and bitwise the same on every thread count,
// over shapes at every edge of its tiles and k-blocks.
//
// Also the loss's per-thread memo of the last residual (src/sensing_loss.cpp),
// which must return exactly what recomputing returns, and never another
// loss's residual.
#include <catch2/catch.hpp>
#if defined(__linux__)
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "flowsense/core/fused_residual.hpp"
#include "flowsense/core/gram_matrix.hpp"
#include "flowsense/core/gram_product.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/core/symmetric_panels.hpp"
#include "flowsense/core/symmetric_product.hpp"
#include "flowsense/core/worker_pool.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::gamma_n;

namespace {

Matrix random_symmetric(Index D, std::uint64_t seed) {
  Rng rng(seed);
  const Matrix A = rng.normal_matrix(D + 3, D);
  const Matrix S = A.transpose() * A;
  return (S + S.transpose()) * 0.5;  // exactly symmetric (a + b = b + a), mixed signs off the diagonal
}

Vector random_vector(Index D, std::uint64_t seed) {
  Rng rng(seed);
  Vector x(D);
  for (Index i = 0; i < D; ++i) x[i] = rng.normal();
  return x;
}

}  // namespace

TEST_CASE("symmetric product: y = Q x within Higham's bound, from the lower triangle alone", "[kernels][oracle]") {
  for (const Index D : {1, 3, 4, 5, 7, 8, 9, 63, 64, 65, 130, 465}) {
    INFO("D = " << D);
    Matrix Q = random_symmetric(D, 100 + static_cast<std::uint64_t>(D));
    const Vector x = random_vector(D, 7);
    // The oracle reads both triangles; the kernel must not read the upper
    // one, so poison it after the oracle has run.
    std::vector<long double> exact(static_cast<std::size_t>(D), 0.0L), bound(static_cast<std::size_t>(D), 0.0L);
    for (Index i = 0; i < D; ++i)
      for (Index j = 0; j < D; ++j) {
        exact[static_cast<std::size_t>(i)] += static_cast<long double>(Q(i, j)) * x[j];
        bound[static_cast<std::size_t>(i)] += std::abs(static_cast<long double>(Q(i, j)) * x[j]);
      }
    Q.triangularView<Eigen::StrictlyUpper>().setConstant(std::numeric_limits<double>::quiet_NaN());
    Vector y;
    SymmetricPanels(Q).product(x, y);
    REQUIRE(y.size() == D);
    for (Index i = 0; i < D; ++i) {
      INFO("row " << i);
      const double err = static_cast<double>(std::abs(y[i] - exact[static_cast<std::size_t>(i)]));
      CHECK(err <= gamma_n(static_cast<double>(D)) * static_cast<double>(bound[static_cast<std::size_t>(i)]));
    }
  }
}

TEST_CASE("symmetric product: bitwise the same result for every thread count", "[kernels][threads]") {
  // D = 1275 (paper 003): 20 tasks of 64 columns, shared by the threads.
  for (const Index D : {65, 1275}) {
    INFO("D = " << D);
    const Matrix Q = random_symmetric(D, 5);
    const Vector x = random_vector(D, 6);
    const SymmetricPanels panels(Q);
    Vector y1;
    panels.product(x, y1);
    for (const int threads : {1, 2, 3, 5}) {
      INFO("threads = " << threads);
      WorkerPool pool(threads);
      for (int call = 0; call < 20; ++call) {  // repeated calls reuse the spinning workers
        Vector y;
        panels.product(x, y, &pool);
        REQUIRE((y - y1).norm() == 0.0);
      }
    }
    // Without a pool every other call runs the tasks backwards (to find the
    // panels still in cache): the same bits in both directions.
    for (int call = 0; call < 3; ++call) {
      Vector y;
      panels.product(x, y);
      REQUIRE((y - y1).norm() == 0.0);
    }
  }
  const Matrix Q = random_symmetric(4, 1);
  Vector y;
  CHECK_THROWS_WITH(SymmetricPanels(Q).product(Vector::Zero(5), y), Catch::Contains("x of length 4, got 5"));
  CHECK_THROWS_WITH(SymmetricPanels(Matrix::Zero(3, 4)), Catch::Contains("square"));
}

TEST_CASE("gram matrix: Q = M^T M within Higham's bound, symmetric, bitwise the same for every thread count",
          "[kernels][oracle][threads]") {
  // Shapes for the blocked kernel (src/gram_matrix.cpp; tiles of 3W x W
  // entries, W = 8 with AVX-512, 4 with AVX, 2 with SSE2, and k-blocks of
  // 256 rows of M): one row or one column, D within one tile, exactly one
  // tile (24) and one column more, D across several tiles with a ragged
  // last one, m within one k-block, exactly two (512), and one row past one
  // (257) or two.
  // Q from the pool's threads, `calls` times each: bitwise the same as on one.
  auto same_bits_on_threads = [](const Matrix& M, const Matrix& Q, int calls) {
    for (const int threads : {2, 3}) {
      INFO("threads = " << threads);
      WorkerPool pool(threads);
      for (int call = 0; call < calls; ++call) {
        Matrix Qt;
        gram_matrix(M, Qt, &pool);
        REQUIRE((Qt - Q).norm() == 0.0);
      }
    }
  };
  for (const auto& [m, D] : std::vector<std::pair<Index, Index>>{
           {1, 1}, {5, 1}, {1, 7}, {7, 2}, {3, 8}, {512, 24}, {257, 25}, {240, 65}, {241, 130}, {300, 129}, {600, 47}}) {
    INFO("m = " << m << ", D = " << D);
    const Matrix M = Rng(40 + static_cast<std::uint64_t>(m + D)).normal_matrix(m, D);
    Matrix Q;
    gram_matrix(M, Q);
    REQUIRE(Q.rows() == D);
    REQUIRE(Q.cols() == D);
    CHECK((Q - Q.transpose()).norm() == 0.0);
    Index bad = 0;
    for (Index i = 0; i < D; ++i)
      for (Index j = 0; j <= i; ++j) {
        long double exact = 0.0L, bound = 0.0L;
        for (Index k = 0; k < m; ++k) {
          exact += static_cast<long double>(M(k, i)) * M(k, j);
          bound += std::abs(static_cast<long double>(M(k, i)) * M(k, j));
        }
        if (!(std::abs(Q(i, j) - exact) <= gamma_n(static_cast<double>(m)) * bound)) ++bad;
      }
    CHECK(bad == 0);
    same_bits_on_threads(M, Q, 3);
  }
  // Above gram_matrix_threaded_flops the tasks do run on the pool (the
  // shapes above stay on the caller): the same bits, and Eigen's M^T M
  // within the norm-wise bound gamma_m ||M||_F^2. m ragged (1300 = 5 x 256
  // + 20) or a whole number of k-blocks (1024), D ragged in both.
  for (const auto& [m, D] : std::vector<std::pair<Index, Index>>{{1300, 400}, {1024, 450}}) {
    INFO("m = " << m << ", D = " << D);
    REQUIRE(static_cast<double>(m) * D * (D + 1) >= gram_matrix_threaded_flops);
    const Matrix M = Rng(77 + static_cast<std::uint64_t>(m)).normal_matrix(m, D);
    Matrix Q1;
    gram_matrix(M, Q1);
    CHECK((Q1 - Q1.transpose()).norm() == 0.0);
    CHECK((Q1 - M.transpose() * M).norm() <= gamma_n(static_cast<double>(m)) * M.squaredNorm());
    same_bits_on_threads(M, Q1, 2);
  }
}

TEST_CASE("symmetric product, several right-hand sides: Y = Q X within Higham's bound, from the lower triangle",
          "[kernels][oracle]") {
  // K covers one partly filled SIMD vector of lanes, exactly one (8 with
  // AVX-512), one more, several vectors, and more than one pass over Q (the
  // kernel takes at most four vectors of lanes per pass); D covers groups
  // smaller than a block, the 128-column block edges and a ragged last block.
  for (const Index D : {1, 5, 9, 127, 128, 129, 300}) {
    for (const Index K : {1, 3, 8, 9, 17, 40}) {
      INFO("D = " << D << ", K = " << K);
      Matrix Q = random_symmetric(D, 200 + static_cast<std::uint64_t>(D));
      Matrix Xt(K, D);
      for (Index k = 0; k < K; ++k) Xt.row(k) = random_vector(D, 300 + static_cast<std::uint64_t>(k)).transpose();
      std::vector<long double> exact(static_cast<std::size_t>(K * D), 0.0L), bound(exact);
      for (Index k = 0; k < K; ++k)
        for (Index i = 0; i < D; ++i)
          for (Index j = 0; j < D; ++j) {
            const long double term = static_cast<long double>(Q(i, j)) * Xt(k, j);
            exact[static_cast<std::size_t>(k * D + i)] += term;
            bound[static_cast<std::size_t>(k * D + i)] += std::abs(term);
          }
      Q.triangularView<Eigen::StrictlyUpper>().setConstant(std::numeric_limits<double>::quiet_NaN());
      Matrix Yt;
      symmetric_product_rows(Q, Xt, Yt);
      REQUIRE(Yt.rows() == K);
      REQUIRE(Yt.cols() == D);
      Index bad = 0;
      for (Index k = 0; k < K; ++k)
        for (Index i = 0; i < D; ++i) {
          const auto e = static_cast<std::size_t>(k * D + i);
          const double err = static_cast<double>(std::abs(Yt(k, i) - exact[e]));
          if (!(err <= gamma_n(static_cast<double>(D)) * static_cast<double>(bound[e]))) ++bad;
        }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("symmetric product, several right-hand sides: bitwise the same for every thread count, and the "
          "single product's values",
          "[kernels][threads]") {
  // D = 1275 (paper 003): 10 blocks of 128 columns, shared by the threads.
  for (const Index D : {129, 1275}) {
    INFO("D = " << D);
    const Matrix Q = random_symmetric(D, 8);
    Matrix Xt(8, D);
    for (Index k = 0; k < 8; ++k) Xt.row(k) = random_vector(D, 9 + static_cast<std::uint64_t>(k)).transpose();
    Matrix Y1;
    symmetric_product_rows(Q, Xt, Y1);
    for (Index k = 0; k < 8; ++k) {  // another summation order: equal to rounding
      Vector y;
      SymmetricPanels(Q).product(Vector(Xt.row(k).transpose()), y);
      CHECK((y - Y1.row(k).transpose()).norm() <= 1e-13 * y.norm());
    }
    for (const int threads : {2, 3, 5}) {
      INFO("threads = " << threads);
      WorkerPool pool(threads);
      for (int call = 0; call < 10; ++call) {
        Matrix Y;
        symmetric_product_rows(Q, Xt, Y, &pool);
        REQUIRE((Y - Y1).norm() == 0.0);
      }
    }
  }
  const Matrix Q = random_symmetric(4, 1);
  Matrix Y;
  CHECK_THROWS_WITH(symmetric_product_rows(Q, Matrix::Zero(2, 5), Y), Catch::Contains("Xt with 4 columns), got 5"));
  CHECK_THROWS_WITH(symmetric_product_rows(Matrix::Zero(3, 4), Matrix::Zero(2, 3), Y), Catch::Contains("square"));
}

TEST_CASE("gram product: G = M^T (M X - b 1^T) for several right-hand sides within Higham's bound",
          "[kernels][oracle]") {
  // Oracle: both products in long double. The computed R carries the error
  // of a sum of D products, gamma_D (|M| |X| + |b|); G adds that error times
  // |M^T| and a sum of m products of its own: entrywise,
  // |G - G*| <= gamma_{D+m+1} |M^T| (|M| |X| + |b|) (Higham, eq. 3.13 twice).
  // Sizes: D below, at and just above a column group (16 with AVX-512) and
  // with ragged ends; K as in the symmetric product's test.
  for (const auto& [m, D] : std::vector<std::pair<Index, Index>>{{1, 1}, {7, 16}, {33, 17}, {100, 37}, {240, 465}}) {
    for (const Index K : {1, 3, 8, 9, 17, 40}) {
      for (const bool with_b : {true, false}) {
        INFO("m = " << m << ", D = " << D << ", K = " << K << (with_b ? ", with b" : ", without b"));
        Rng rng(400 + static_cast<std::uint64_t>(m + D + K));
        const Matrix M = rng.normal_matrix(m, D);
        const Vector b = random_vector(m, 500 + static_cast<std::uint64_t>(m));
        Matrix Xt(K, D);
        for (Index k = 0; k < K; ++k) Xt.row(k) = random_vector(D, 600 + static_cast<std::uint64_t>(k)).transpose();
        Matrix Gt;
        gram_product_rows(M, with_b ? &b : nullptr, Xt, Gt);
        REQUIRE(Gt.rows() == K);
        REQUIRE(Gt.cols() == D);
        const double gamma = gamma_n(static_cast<double>(D + m + 1));
        Index bad = 0;
        for (Index k = 0; k < K; ++k) {
          std::vector<long double> r(static_cast<std::size_t>(m)), r_abs(static_cast<std::size_t>(m));
          for (Index i = 0; i < m; ++i) {
            long double s = with_b ? -static_cast<long double>(b[i]) : 0.0L;
            long double a = with_b ? std::abs(static_cast<long double>(b[i])) : 0.0L;
            for (Index j = 0; j < D; ++j) {
              s += static_cast<long double>(M(i, j)) * Xt(k, j);
              a += std::abs(static_cast<long double>(M(i, j)) * Xt(k, j));
            }
            r[static_cast<std::size_t>(i)] = s;
            r_abs[static_cast<std::size_t>(i)] = a;
          }
          for (Index j = 0; j < D; ++j) {
            long double g = 0.0L, bound = 0.0L;
            for (Index i = 0; i < m; ++i) {
              g += static_cast<long double>(M(i, j)) * r[static_cast<std::size_t>(i)];
              bound += std::abs(static_cast<long double>(M(i, j))) * r_abs[static_cast<std::size_t>(i)];
            }
            if (!(std::abs(Gt(k, j) - g) <= gamma * bound)) ++bad;
          }
        }
        CHECK(bad == 0);
      }
    }
  }
  const Matrix M = Matrix::Ones(3, 4);
  const Vector b = Vector::Zero(2);
  Matrix Gt;
  CHECK_THROWS_WITH(gram_product_rows(M, nullptr, Matrix::Zero(2, 5), Gt), Catch::Contains("Xt with 4 columns), got 5"));
  CHECK_THROWS_WITH(gram_product_rows(M, &b, Matrix::Zero(2, 4), Gt), Catch::Contains("b of length m = 3, got 2"));
}

TEST_CASE("gram product: bitwise the same result for every thread count", "[kernels][threads]") {
  // m = 600 and D = 600: three tasks of 256 rows (first product) and of 256
  // columns (second), the last ragged.
  Rng rng(700);
  const Matrix M = rng.normal_matrix(600, 600);
  const Vector b = random_vector(600, 701);
  Matrix Xt(8, 600);
  for (Index k = 0; k < 8; ++k) Xt.row(k) = random_vector(600, 702 + static_cast<std::uint64_t>(k)).transpose();
  Matrix G1;
  gram_product_rows(M, &b, Xt, G1);
  for (const int threads : {2, 3, 5}) {
    INFO("threads = " << threads);
    WorkerPool pool(threads);
    for (int call = 0; call < 5; ++call) {
      Matrix G;
      gram_product_rows(M, &b, Xt, G, &pool);
      REQUIRE((G - G1).norm() == 0.0);
    }
  }
}

namespace {

/// True if task 1 of a 2-task run starts on another thread while task 0
/// waits for it (up to 5 s): the pool has a live worker.
bool runs_on_two_threads(WorkerPool& pool) {
  std::atomic<bool> second_started{false};
  bool overlapped = false;
  const bool ran = pool.try_run(2, [&](Index k) {
    if (k == 1) {
      second_started.store(true);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!second_started.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    overlapped = second_started.load();
  });
  return ran && overlapped;
}

}  // namespace

TEST_CASE("worker pool: the first run right after construction is shared with the workers", "[kernels][threads]") {
  // A worker that took the first run for one it had already seen (it read
  // the run's generation when it started, after the run was published)
  // left the caller alone with both tasks: then task 1 never starts while
  // task 0 waits, and the wait ends at the deadline. 5 s is far beyond the
  // time a busy machine takes to schedule a thread.
  for (int round = 0; round < 20; ++round) {
    WorkerPool pool(2);
    INFO("round " << round);
    REQUIRE(runs_on_two_threads(pool));
  }
}

#if defined(__linux__)
TEST_CASE("worker pool: with the caller and its worker on one core, every run completes", "[kernels][threads]") {
  // The case the scheduler produced by itself (a worker started beside the
  // caller): the worker runs only when the caller is preempted, so the
  // caller must never wait for a task nobody can run, and a worker that
  // claimed one must still finish it.
  cpu_set_t saved;
  REQUIRE(sched_getaffinity(0, sizeof saved, &saved) == 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
  REQUIRE(cpu < CPU_SETSIZE);
  CPU_SET(cpu, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);  // this thread; the pool's workers inherit it
  {
    WorkerPool pool(3);
    constexpr Index tasks = 8;
    bool all_once = true;
    for (int call = 0; call < 3000; ++call) {
      std::vector<std::atomic<int>> runs(tasks);
      REQUIRE(pool.try_run(tasks, [&](Index k) {
        runs[static_cast<std::size_t>(k)].fetch_add(1);
        volatile double busy = 0;  // each task's own (a shared one is a data race)
        for (int i = 0; i < 200; ++i) busy = busy + 1e-9 * i;
      }));
      for (Index k = 0; k < tasks; ++k) all_once = all_once && runs[static_cast<std::size_t>(k)].load() == 1;
    }
    CHECK(all_once);
  }
  REQUIRE(sched_setaffinity(0, sizeof saved, &saved) == 0);
}
#endif

#if defined(__linux__)
TEST_CASE("worker pool: after fork(), pools made before it run on live threads in the child", "[kernels][threads]") {
  // fork() copies only the calling thread: a pool made before it has no
  // workers in the child, and a mutex a worker held at the fork stays
  // locked there. Such a pool must hand its runs to the child's own pool
  // (so task 1 starts on another thread while task 0 waits for it; on the
  // copied pool nobody but the caller could start it), give bitwise the
  // kernel's one-thread result, and be destroyed without joining threads
  // that do not exist. The child reports through a pipe and leaves with
  // _exit (the test framework's state is the parent's).
#if defined(__SANITIZE_THREAD__)
  WARN("not run under ThreadSanitizer, which kills a child of a multi-threaded fork that starts a thread");
  return;
#endif
  const auto shared_pool = WorkerPool::shared(2);
  auto own = std::make_unique<WorkerPool>(2);
  REQUIRE(runs_on_two_threads(*shared_pool));
  REQUIRE(runs_on_two_threads(*own));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin: the workers sleep
  const Matrix M = Rng(750).normal_matrix(240, 465);
  const Vector x = oracle::normal_vector(465, 751), b = oracle::normal_vector(240, 752);
  const FusedResidual kernel(M);
  Vector r1, g1;
  kernel.compute(x, &b, r1, g1);

  int channel[2];
  REQUIRE(pipe(channel) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(channel[0]);
    char report[4];
    report[0] = runs_on_two_threads(*shared_pool) ? 'y' : 'n';
    report[1] = runs_on_two_threads(*own) ? 'y' : 'n';
    Vector r, g;
    kernel.compute(x, &b, r, g, own.get());
    report[2] = (r - r1).norm() == 0.0 && (g - g1).norm() == 0.0 ? 'y' : 'n';
    own.reset();  // must return: no join of the copied workers
    report[3] = 'y';
    const bool sent = write(channel[1], report, sizeof report) == static_cast<ssize_t>(sizeof report);
    _exit(sent ? 0 : 1);
  }
  close(channel[1]);
  int status = 0;
  bool exited = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    exited = waitpid(child, &status, WNOHANG) == child;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) {  // hung: a copied mutex or a join
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  char report[4] = {'-', '-', '-', '-'};
  const ssize_t got = read(channel[0], report, sizeof report);
  close(channel[0]);
  INFO("child report " << std::string(report, 4) << " (shared pool on two threads, own pool on two threads, "
                       << "bitwise one-thread result, destroyed); exited " << exited);
  REQUIRE(exited);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 1: the report was not written whole
  CHECK(got == 4);
  CHECK(report[0] == 'y');
  CHECK(report[1] == 'y');
  CHECK(report[2] == 'y');
  CHECK(report[3] == 'y');
  // The parent's pools are untouched.
  CHECK(runs_on_two_threads(*shared_pool));
  CHECK(runs_on_two_threads(*own));
}
#endif

TEST_CASE("worker pool: the process's pools", "[kernels][threads]") {
  const auto two = WorkerPool::shared(2);
  REQUIRE(two != nullptr);
  CHECK(two->threads() == 2);
  CHECK(WorkerPool::shared(2) == two);
  CHECK(WorkerPool::shared(3) != two);
  CHECK(WorkerPool::shared(3)->threads() == 3);
  CHECK(WorkerPool::shared(1)->threads() == 1);
  CHECK(WorkerPool::shared(0)->threads() == 1);  // as WorkerPool(0)
  std::atomic<int> n{0};
  CHECK(two->try_run(4, [&](Index) { n.fetch_add(1); }) == true);
  CHECK(n.load() == 4);
}

TEST_CASE("worker pool: task 0 always runs on the calling thread", "[kernels][threads]") {
  // Kernels split their data into fixed tasks; with task 0 always on the
  // caller (and, with one worker, task 1 on the worker whenever it is
  // awake) each part stays in one core's cache from call to call. Before,
  // a spinning worker that saw a run first took task 0 in 2% to 74% of the
  // calls of such a loop (scratch probes, three runs). Some work between
  // calls, as in a GD loop, keeps the worker spinning, which is when it
  // could take task 0.
  WorkerPool pool(2);
  const auto caller = std::this_thread::get_id();
  int elsewhere = 0;
  volatile double sink = 0;
  for (int call = 0; call < 2000; ++call) {
    std::thread::id first;
    REQUIRE(pool.try_run(2, [&](Index k) {
      if (k == 0) first = std::this_thread::get_id();
      volatile double busy = 0;  // each task's own (a shared one is a data race)
      for (int i = 0; i < 500; ++i) busy = busy + 1e-9 * i;
    }));
    if (first != caller) ++elsewhere;
    for (int i = 0; i < 250; ++i) sink = sink + 1e-9 * i;
  }
  CHECK(elsewhere == 0);
}

TEST_CASE("worker pool: every task runs exactly once, also with concurrent callers", "[kernels][threads]") {
  WorkerPool pool(3);
  CHECK(pool.threads() == 3);
  constexpr Index tasks = 97;
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> runs(tasks);
    REQUIRE(pool.try_run(tasks, [&](Index k) { runs[static_cast<std::size_t>(k)].fetch_add(1); }));
    for (Index k = 0; k < tasks; ++k) REQUIRE(runs[static_cast<std::size_t>(k)].load() == 1);
  }
  // Two callers at once: one may be refused (try_run returns false and runs
  // nothing); whoever is refused does the tasks itself, as the kernels do.
  std::atomic<int> total{0};
  auto caller = [&] {
    for (int round = 0; round < 200; ++round) {
      std::atomic<int> count{0};
      auto task = [&](Index) { count.fetch_add(1); };
      if (!pool.try_run(tasks, task))
        for (Index k = 0; k < tasks; ++k) task(k);
      total.fetch_add(count.load() == tasks ? 1 : 0);
    }
  };
  std::thread other(caller);
  caller();
  other.join();
  CHECK(total.load() == 400);
  // A pool of one thread runs in the caller.
  WorkerPool single(1);
  int n = 0;
  CHECK(single.try_run(5, [&](Index) { ++n; }));
  CHECK(n == 5);
}

TEST_CASE("loss: the residual memo returns exactly the recomputed residual, per loss and per factor",
          "[kernels][loss]") {
  const auto op = std::make_shared<GaussianOperator>(6, 30, GaussianScale::unit, 3);
  const Vector b = random_vector(30, 4);
  for (const bool fused : {false, true}) {
  INFO((fused ? "fused plain form" : "two passes over M"));
  OperatorFormOptions form;
  form.form = OperatorForm::plain;
  if (!fused) form.fused_memory_limit = 0;
  const SensingLoss first(op, b, 0.25, form), second(op, 2 * b, 0.25, form);
  const FusedResidual kernel(op->packed_rows());
  Rng rng(9);
  Matrix U = rng.normal_matrix(6, 2);
  auto direct = [&](const Vector& data) {  // the oracle: no memo on this path
    Vector y;
    if (fused) {
      Vector x, g;
      pack_symmetric(Matrix(U * U.transpose()), x);
      kernel.compute(x, &data, y, g);
      return y;
    }
    op->apply_gram(U, y);
    return Vector(y - data);
  };
  const Vector r1 = first.residual(U);
  CHECK((r1 - direct(b)).norm() == 0.0);
  CHECK((second.residual(U) - direct(2 * b)).norm() == 0.0);  // same U, other loss
  CHECK((first.residual(U) - r1).norm() == 0.0);
  const SensingLoss copy = first;  // copies share the memo's key
  CHECK((copy.residual(U) - r1).norm() == 0.0);
  U(3, 1) = std::nextafter(U(3, 1), 1e9);  // one ulp: a new factor
  CHECK((first.residual(U) - direct(b)).norm() == 0.0);
  CHECK((first.residual(U) - r1).norm() > 0.0);
  // The training error and the gradient agree with the same computations.
  CHECK(first.training_error(U) == direct(b).squaredNorm());
  }
}
