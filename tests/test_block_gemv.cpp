// The plain operator form on threads (issue 5, problems 1 and 6): y = M x and
// g = M^T r on fixed column blocks of the packed matrix (core/block_gemv.hpp),
// and the loss' plain form that runs them on its worker pool
// (loss/operator_form.hpp, `threads`).
//
// Oracles. (1) The products against the same sums in long double, with
// Higham's bound for a computed sum of n products, |y - y*| <= gamma_n |M||x|
// entrywise (oracles.hpp): the column blocks only reorder the sum, so the
// bound for n = D (+ the K - 1 additions of the partial sums) must hold.
// (2) Every thread count returns the same bits as one thread: the blocks are
// fixed, so this is exact equality, for shapes with fewer columns than
// blocks, columns not divisible by the block count, tiny and odd m, and
// Example 1.1's m = 240, D = 465. (3) Through the loss: gradients,
// Hessian-vector products, residuals and whole GD runs are bitwise the same
// on 1, 2 and 3 threads, and the plain form agrees with the dense sum over
// the A_i (an oracle that does not use M at all).
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "flowsense/core/block_gemv.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/core/worker_pool.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/normal_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::gamma_n;
using oracle::normal_vector;
using oracle::outside_higham_bound;
using oracle::relative_error;
using oracle::Sci;

namespace {

// (m, D): D below, at and not divisible by the block count; m = 1 and odd m;
// Example 1.1 (240, 465) and one more row and column.

const std::vector<std::pair<Index, Index>> shapes{{1, 1},  {1, 3},   {3, 1},    {2, 4},    {5, 7},
                                                   {7, 16}, {33, 17}, {240, 465}, {241, 466}};

/// The plain form, fused (one pass over a measurement-major copy of M,
/// core/fused_residual.hpp) or with two passes over M (block_gemv).
OperatorFormOptions plain(int threads, bool fused = true) {
  OperatorFormOptions o;
  o.form = OperatorForm::plain;
  o.threads = threads;
  if (!fused) o.fused_memory_limit = 0;
  return o;
}

}  // namespace

TEST_CASE("block gemv: y = M x and g = M^T r within Higham's bound", "[kernels][oracle][plain_threads]") {
  for (const auto& [m, D] : shapes) {
    INFO("m = " << m << ", D = " << D);
    Rng rng(900 + static_cast<std::uint64_t>(m * 1000 + D));
    const Matrix M = rng.normal_matrix(m, D);
    const Vector x = normal_vector(D, 901), r = normal_vector(m, 902);
    Vector y, g;
    block_gemv(M, x, y);
    block_gemv_transposed(M, r, g);
    REQUIRE(y.size() == m);
    REQUIRE(g.size() == D);
    const double gamma_y = gamma_n(static_cast<double>(D + gemv_column_blocks));
    const double gamma_g = gamma_n(static_cast<double>(m));
    CHECK(outside_higham_bound(M, x, y, gamma_y) + outside_higham_bound(M.transpose(), r, g, gamma_g) == 0);
  }
  const Matrix M = Matrix::Ones(3, 4);
  Vector out;
  CHECK_THROWS_WITH(block_gemv(M, Vector::Zero(5), out), Catch::Contains("x of length D = 4, got 5"));
  CHECK_THROWS_WITH(block_gemv_transposed(M, Vector::Zero(2), out), Catch::Contains("r of length m = 3, got 2"));
}

TEST_CASE("block gemv: bitwise the same result for every thread count", "[kernels][threads][plain_threads]") {
  std::vector<std::unique_ptr<WorkerPool>> pools;
  for (const int threads : {2, 3, 4, 6}) pools.push_back(std::make_unique<WorkerPool>(threads));
  for (const auto& [m, D] : shapes) {
    Rng rng(910 + static_cast<std::uint64_t>(m * 1000 + D));
    const Matrix M = rng.normal_matrix(m, D);
    const Vector x = normal_vector(D, 911), r = normal_vector(m, 912);
    Vector y1, g1;
    block_gemv(M, x, y1);
    block_gemv_transposed(M, r, g1);
    for (const auto& pool : pools) {
      INFO("m = " << m << ", D = " << D << ", threads = " << pool->threads());
      for (int call = 0; call < 3; ++call) {  // the workers claim tasks in varying order
        Vector y, g;
        block_gemv(M, x, y, pool.get());
        block_gemv_transposed(M, r, g, pool.get());
        REQUIRE(y.size() == m);
        REQUIRE(g.size() == D);
        REQUIRE((y - y1).norm() == 0.0);
        REQUIRE((g - g1).norm() == 0.0);
      }
    }
  }
}

TEST_CASE("plain form on threads: the loss' products are bitwise those of one thread",
          "[kernels][threads][plain_threads]") {
  // Example 1.1's size (m = 240, D = 465) and a tiny one (m = 3 < the block
  // count, D = 3). threads = 3 does not divide the 4 blocks.
  for (const auto& [d, m] : std::vector<std::pair<Index, Index>>{{30, 240}, {2, 3}, {7, 29}})
  for (const bool fused : {false, true}) {
    INFO("d = " << d << ", m = " << m << (fused ? ", fused" : ", two passes"));
    const Problem pb = Problem::noiseless(std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 920 + d),
                                          planted_trace_one(d, 2 < d ? 2 : d, 921));
    const Matrix U = random_factor(d, d, d, 1.0, 922), V = random_factor(d, d, d, 1.0, 923);
    const SensingLoss one(pb, loss_constant::paper000, plain(1, fused));
    Matrix g1, h1, s1;
    const double f1 = one.value_and_gradient(U, g1);
    one.hessian_vector(U, V, h1);
    one.gram_velocity(U * U.transpose(), s1);
    const Vector r1 = one.residual(U);
    // The operator's own products (no pool): the same bits in two passes;
    // fused, the same sums in another order (the gradient's entries are
    // sums of m D products, 1e-13 is ~100 ulps of their size).
    Vector r_op;
    pb.op->apply_gram(U, r_op);
    const Matrix g_op = pb.op->adjoint(Vector(r_op - pb.b)) * U * (2.0 * one.c());
    if (fused)
      CHECK(Sci{(g_op - g1).norm()} <= Sci{1e-13 * g_op.norm()});
    else
      CHECK((pb.op->adjoint(r1) * U * (2.0 * one.c()) - g1).norm() == 0.0);
    for (const int threads : {2, 3}) {
      INFO("threads = " << threads);
      const SensingLoss many(pb, loss_constant::paper000, plain(threads, fused));
      for (int call = 0; call < 3; ++call) {
        Matrix g, h, s, gg;
        CHECK(many.value_and_gradient(U, g) == f1);
        many.gradient(V, gg);  // a residual the memo does not hold
        many.gradient(U, gg);
        many.hessian_vector(U, V, h);
        many.gram_velocity(U * U.transpose(), s);
        CHECK((g - g1).norm() == 0.0);
        CHECK((gg - g1).norm() == 0.0);
        CHECK((h - h1).norm() == 0.0);
        CHECK((s - s1).norm() == 0.0);
        CHECK((many.residual(V) - one.residual(V)).norm() == 0.0);
      }
    }
  }
}

TEST_CASE("plain form on threads: agrees with the dense sum over the A_i, and GD runs repeat bit for bit",
          "[kernels][threads][plain_threads][oracle]") {
  const Index d = 30, m = 240;
  const auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 930);
  const Problem pb = Problem::noiseless(op, planted_trace_one(d, 2, 931));
  const Matrix U0 = random_factor(d, 2, 2, 1.0, 932);
  // Dense oracle: r_i = <A_i, U U^T> - b_i and grad = 2c sum_i r_i A_i U,
  // from the d x d matrices (scale 1 for GaussianScale::unit).
  const Matrix X = U0 * U0.transpose();
  Matrix S = Matrix::Zero(d, d);
  for (Index i = 0; i < m; ++i) {
    const Matrix A = op->sensing_matrix(i);
    S += ((A.array() * X.array()).sum() - pb.b[i]) * A;
  }
  const Matrix dense = 2.0 * loss_constant::paper000 * S * U0;
  Matrix g;
  SensingLoss(pb, loss_constant::paper000, plain(2)).gradient(U0, g);
  CHECK(Sci{relative_error(g, dense)} < 1e-12);

  // 200 GD steps (the papers' step at this size): the same bits on 1 and 2 threads.
  auto run = [&](int threads) {
    const SensingLoss loss(pb, loss_constant::paper000, plain(threads));
    FactorFlow flow(loss);
    IntegrateOptions options;
    options.stepper = StepperKind::euler;
    options.step = 8e-4;
    Matrix U = U0;
    const Summary s = integrate(flow, U, std::vector<double>{0.0, 200 * 8e-4}, options, Watch{});
    REQUIRE(s.ok());
    return U;
  };
  const Matrix U1 = run(1), U2 = run(2);
  CHECK((U1 - U2).norm() == 0.0);
  CHECK((U1 - U0).norm() > 0.0);
}

TEST_CASE("plain form on threads: the process's pool, shared by losses and their normal form",
          "[kernels][threads][plain_threads]") {
  const Problem pb = Problem::noiseless(std::make_shared<GaussianOperator>(4, 12, GaussianScale::unit, 940),
                                        planted_trace_one(4, 1, 941));
  CHECK(SensingLoss(pb, 0.25, plain(1)).worker_pool() == nullptr);
  const SensingLoss loss(pb, 0.25, plain(3));
  REQUIRE(loss.worker_pool() != nullptr);
  CHECK(loss.worker_pool()->threads() == 3);
  const SensingLoss copy = loss;
  CHECK(copy.worker_pool() == loss.worker_pool());
  // Another loss of the same thread count uses the same workers (no thread
  // started per loss: WorkerPool::shared); another count, other workers.
  const SensingLoss other(pb, 0.5, plain(3));
  CHECK(other.worker_pool() == loss.worker_pool());
  CHECK(other.worker_pool() == WorkerPool::shared(3).get());
  OperatorFormOptions normal = plain(2);
  normal.form = OperatorForm::normal;
  const SensingLoss with_q(pb, 0.25, normal);
  REQUIRE(with_q.normal_form() != nullptr);
  CHECK(with_q.normal_form()->threads() == 2);  // from the loss' pool (share_pool)
  CHECK(with_q.worker_pool() != loss.worker_pool());
  CHECK(with_q.worker_pool() == WorkerPool::shared(2).get());
}
