// The fused plain kernel (core/fused_residual.hpp): r = M x - b and
// g = M^T r in one pass over a measurement-major copy of M.
//
// Oracles: the long-double sums of M x - b and M^T r (Higham's bound for a
// computed sum in any order, with the r the kernel returned: g is M^T of
// that r); bitwise equality across thread counts (the kernel's promise); and,
// in the loss, the two-pass plain form (core/block_gemv.hpp) to rounding.
#include <catch2/catch.hpp>

#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "flowsense/core/fused_residual.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/core/worker_pool.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::gamma_n;
using oracle::normal_vector;
using oracle::outside_higham_bound;
using oracle::Sci;

namespace {

// (m, D): tiny ones, m below and not divisible by the block count or a
// chunk, D not a whole number of SIMD vectors; Example 1.1 (240, 465);
// paper 003's D = 1275; and D large enough for chunks of two rows (D >
// 10922) and of one row (D > 16384).
const std::vector<std::pair<Index, Index>> shapes{{1, 1},    {1, 3},      {3, 1},     {2, 4},     {5, 7},
                                                   {7, 16},   {33, 17},    {240, 465}, {241, 466}, {29, 1275},
                                                   {9, 12000}, {6, 16500}};

}  // namespace

TEST_CASE("fused residual: r = M x - b and g = M^T r within Higham's bound", "[kernels][oracle][fused]") {
  for (const auto& [m, D] : shapes) {
    INFO("m = " << m << ", D = " << D);
    Rng rng(700 + static_cast<std::uint64_t>(m * 100000 + D));
    const Matrix M = rng.normal_matrix(m, D);
    const Vector x = normal_vector(D, 701), b = normal_vector(m, 702);
    const FusedResidual kernel(M);
    CHECK(kernel.rows() == m);
    CHECK(kernel.cols() == D);
    INFO("rows per chunk " << kernel.chunk());
    Vector r, g;
    kernel.compute(x, &b, r, g);
    REQUIRE(r.size() == m);
    REQUIRE(g.size() == D);
    // r_i: D products and b_i; g_j: m products in blocks, chunks and two
    // chains per chunk, added in a tree of fewer than m + K levels.
    CHECK(outside_higham_bound(M, x, r, gamma_n(static_cast<double>(D + 1)), &b) == 0);
    CHECK(outside_higham_bound(M.transpose(), r, g, gamma_n(static_cast<double>(m + fused_residual_blocks))) == 0);
    // Without b: r = M x exactly as with b = 0.
    Vector r0, g0, rz, gz;
    kernel.compute(x, nullptr, r0, g0);
    const Vector zero = Vector::Zero(m);
    kernel.compute(x, &zero, rz, gz);
    CHECK((r0 - rz).norm() == 0.0);
    CHECK((g0 - gz).norm() == 0.0);
  }
  SECTION("the rows per chunk shrink with D so that a chunk stays in L2") {
    CHECK(FusedResidual(Matrix::Ones(2, 465)).chunk() == 4);
    CHECK(FusedResidual(Matrix::Ones(2, 12000)).chunk() == 2);
    CHECK(FusedResidual(Matrix::Ones(2, 16500)).chunk() == 1);
  }
  SECTION("wrong lengths are errors naming the vector and the length expected") {
    const FusedResidual kernel(Matrix::Ones(3, 4));
    Vector r, g;
    CHECK_THROWS_WITH(kernel.compute(Vector::Zero(5), nullptr, r, g), Catch::Contains("x of length D = 4, got 5"));
    const Vector b = Vector::Zero(2);
    CHECK_THROWS_WITH(kernel.compute(Vector::Zero(4), &b, r, g), Catch::Contains("b of length m = 3, got 2"));
  }
}

TEST_CASE("fused residual: y = M x and g = M^T r alone within Higham's bound", "[kernels][oracle][fused]") {
  for (const auto& [m, D] : shapes) {
    INFO("m = " << m << ", D = " << D);
    Rng rng(720 + static_cast<std::uint64_t>(m * 100000 + D));
    const Matrix M = rng.normal_matrix(m, D);
    const Vector x = normal_vector(D, 721), r = normal_vector(m, 722);
    const FusedResidual kernel(M);
    Vector y, g;
    kernel.apply(x, y);
    kernel.adjoint(r, g);
    REQUIRE(y.size() == m);
    REQUIRE(g.size() == D);
    // y_i: D products in eight chains; g_j: m products chunk by chunk, two
    // chains per chunk.
    CHECK(outside_higham_bound(M, x, y, gamma_n(static_cast<double>(D))) == 0);
    CHECK(outside_higham_bound(M.transpose(), r, g, gamma_n(static_cast<double>(m + 1))) == 0);
    // The same products as the fused pass with no b: y is its r (the same
    // chains), and with that r as weights, g agrees with its g to rounding.
    Vector rf, gf;
    kernel.compute(x, nullptr, rf, gf);
    CHECK((y - rf).norm() == 0.0);
    Vector gy;
    kernel.adjoint(y, gy);
    CHECK(outside_higham_bound(M.transpose(), y, gy, gamma_n(static_cast<double>(m + 1))) == 0);
    CHECK((gy - gf).norm() <= 4 * gamma_n(static_cast<double>(m + fused_residual_blocks)) *
                                  (M.cwiseAbs().transpose() * y.cwiseAbs()).norm());
  }
  SECTION("wrong lengths are errors naming the vector and the length expected") {
    const FusedResidual kernel(Matrix::Ones(3, 4));
    Vector out;
    CHECK_THROWS_WITH(kernel.apply(Vector::Zero(5), out), Catch::Contains("x of length D = 4, got 5"));
    CHECK_THROWS_WITH(kernel.adjoint(Vector::Zero(2), out), Catch::Contains("r of length m = 3, got 2"));
  }
}

TEST_CASE("fused residual: bitwise the same result for every thread count", "[kernels][threads][fused]") {
  std::vector<std::unique_ptr<WorkerPool>> pools;
  for (const int threads : {2, 3, 4, 6}) pools.push_back(std::make_unique<WorkerPool>(threads));
  for (const auto& [m, D] : shapes) {
    Rng rng(710 + static_cast<std::uint64_t>(m * 100000 + D));
    const Matrix M = rng.normal_matrix(m, D);
    const Vector x = normal_vector(D, 711), b = normal_vector(m, 712);
    const FusedResidual kernel(M);
    Vector r1, g1;
    kernel.compute(x, &b, r1, g1);
    for (const auto& pool : pools) {
      INFO("m = " << m << ", D = " << D << ", threads = " << pool->threads());
      for (int call = 0; call < 3; ++call) {  // the workers claim blocks in varying order
        Vector r, g;
        kernel.compute(x, &b, r, g, pool.get());
        REQUIRE((r - r1).norm() == 0.0);
        REQUIRE((g - g1).norm() == 0.0);
      }
    }
  }
}

TEST_CASE("fused residual: a new b, or another kernel's, counts at once on every thread count",
          "[kernels][threads][fused]") {
  // The padded b is rewritten only when its bits change (so that the
  // workers keep it in cache); one workspace per thread serves every kernel.
  // Oracle: each kernel's result on a thread that never ran a kernel before.
  const Matrix M1 = Rng(720).normal_matrix(240, 465), M2 = Rng(721).normal_matrix(33, 17);
  const FusedResidual k1(M1), k2(M2);
  const Vector x1 = normal_vector(465, 722), x2 = normal_vector(17, 723);
  Vector b1 = normal_vector(240, 724), b2 = normal_vector(33, 725);
  Vector b1_changed = b1;
  b1_changed[239] = -b1_changed[239];  // the last row only
  struct Result {
    Vector r, g;
  };
  auto fresh = [](const FusedResidual& k, const Vector& x, const Vector* b) {
    Result out;
    std::thread([&] { k.compute(x, b, out.r, out.g); }).join();
    return out;
  };
  const Result want1 = fresh(k1, x1, &b1), want1_changed = fresh(k1, x1, &b1_changed), want2 = fresh(k2, x2, &b2),
               want1_no_b = fresh(k1, x1, nullptr);
  REQUIRE(want1.r[239] != want1_changed.r[239]);
  std::vector<std::unique_ptr<WorkerPool>> pools;
  pools.push_back(nullptr);
  for (const int threads : {2, 3, 4}) pools.push_back(std::make_unique<WorkerPool>(threads));
  for (const auto& pool : pools) {
    INFO("threads = " << (pool ? pool->threads() : 1));
    auto check = [&](const FusedResidual& k, const Vector& x, const Vector* b, const Result& want) {
      Result got;
      k.compute(x, b, got.r, got.g, pool.get());
      CHECK((got.r - want.r).norm() == 0.0);
      CHECK((got.g - want.g).norm() == 0.0);
    };
    for (int round = 0; round < 2; ++round) {
      check(k1, x1, &b1, want1);
      check(k1, x1, &b1_changed, want1_changed);
      check(k2, x2, &b2, want2);  // another kernel, another m, in the same workspace
      check(k1, x1, &b1, want1);
      check(k1, x1, nullptr, want1_no_b);
    }
  }
}

TEST_CASE("plain form: the fused pass agrees with two passes over M in every loss product",
          "[kernels][loss][fused]") {
  // Example 1.1's size and paper 003's d = 50 at m = 400 (D = 1275 > m:
  // the cost model keeps the plain form there).
  for (const auto& [d, m] : std::vector<std::pair<Index, Index>>{{30, 240}, {50, 400}, {3, 5}}) {
    INFO("d = " << d << ", m = " << m);
    const Problem pb = Problem::noiseless(std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 730 + d),
                                          planted_trace_one(d, 2, 731));
    OperatorFormOptions fused_form, two_pass_form;
    fused_form.form = two_pass_form.form = OperatorForm::plain;
    two_pass_form.fused_memory_limit = 0;
    const SensingLoss fused(pb, loss_constant::paper000, fused_form), two(pb, loss_constant::paper000, two_pass_form);
    CHECK(fused.operator_form_report().find("one pass") != std::string::npos);
    CHECK(two.operator_form_report().find("two passes") != std::string::npos);
    const Matrix U = random_factor(d, d, d, 1.0, 732), V = random_factor(d, d, d, 1.0, 733);
    const Matrix W = U * V.transpose() + V * U.transpose();
    // Every entry is a sum of ~m D products of O(1) terms; 1e-13 relative
    // is ~500 ulps of the result's size, far above two summation orders'
    // difference (~sqrt(m D) ulps) and far below any wrong term.
    auto agree = [](const Matrix& a, const Matrix& b) {
      INFO("relative difference " << Sci{oracle::relative_error(a, b)});
      CHECK(oracle::relative_error(a, b) < 1e-13);
    };
    Matrix a, b;
    const double fa = fused.value_and_gradient(U, a), fb = two.value_and_gradient(U, b);
    CHECK(std::abs(fa - fb) <= 1e-13 * fb);
    agree(a, b);
    fused.gradient(V, a);  // no memo: a new factor
    two.gradient(V, b);
    agree(a, b);
    fused.hessian_vector(U, V, a);
    two.hessian_vector(U, V, b);
    agree(a, b);
    fused.gram_velocity(U * U.transpose(), a);
    two.gram_velocity(U * U.transpose(), b);
    agree(a, b);
    fused.normal_apply_times(W, U, a);
    two.normal_apply_times(W, U, b);
    agree(a, b);
    fused.residual_adjoint(U, a);
    two.residual_adjoint(U, b);
    agree(a, b);
    CHECK(oracle::relative_error(fused.residual(U), two.residual(U)) < 1e-13);
    // A(W) and A*(y) U alone (the preconditioner's products): from the copy
    // in the fused form, from M in the other, and as the operator's own.
    Vector ya, yb, yo;
    fused.apply(W, ya);
    two.apply(W, yb);
    pb.op->apply(W, yo);
    CHECK(oracle::relative_error(ya, yo) < 1e-13);
    CHECK(oracle::relative_error(yb, yo) < 1e-13);
    Matrix o;
    fused.adjoint_times(yo, U, a);
    two.adjoint_times(yo, U, b);
    pb.op->adjoint_times(yo, U, o);
    agree(a, o);
    agree(b, o);
  }
  SECTION("a copy over the memory limit falls back to two passes; a negative limit is an error") {
    const Problem pb = Problem::noiseless(std::make_shared<GaussianOperator>(5, 20, GaussianScale::unit, 740),
                                          planted_trace_one(5, 2, 741));
    OperatorFormOptions small;
    small.form = OperatorForm::plain;
    small.fused_memory_limit = 8.0 * 20 * packed_size(5) - 1;  // one byte short of the copy
    CHECK(SensingLoss(pb, 0.25, small).operator_form_report().find("two passes") != std::string::npos);
    small.fused_memory_limit = 8.0 * 20 * packed_size(5);
    CHECK(SensingLoss(pb, 0.25, small).operator_form_report().find("one pass") != std::string::npos);
    small.fused_memory_limit = -1;
    CHECK_THROWS_WITH(SensingLoss(pb, 0.25, small), Catch::Contains("fused_memory_limit"));
  }
  SECTION("A(X) and A*(y) U alone: wrong shapes are errors naming what was expected") {
    const Problem pb = Problem::noiseless(std::make_shared<GaussianOperator>(5, 20, GaussianScale::unit, 742),
                                          planted_trace_one(5, 2, 743));
    const SensingLoss loss(pb, 0.25);
    Vector y;
    Matrix out;
    CHECK_THROWS_WITH(loss.apply(Matrix::Zero(4, 5), y), Catch::Contains("symmetric 5 x 5 X, got 4 x 5"));
    CHECK_THROWS_WITH(loss.adjoint_times(Vector::Zero(19), Matrix::Zero(5, 2), out),
                      Catch::Contains("y of length m = 20, got 19"));
  }
}
