// bdf's GMRES preconditioner for the factor flow (flow/gauss_newton_inverse.hpp,
// integrate/detail/shifted_solve.hpp, StiffOptions::preconditioner).
//
// Oracles: the dense matrices themselves. I + a Jr^T Jr from the residual
// Jacobian (SensingLoss::residual_jacobian) for the Woodbury inverse, the
// closed-form Jacobian (FactorFlow::dense_jacobian) for the fused product
// N Q, GMRES's own residual recomputed densely, and, for the stepper, dopri5
// at a tight tolerance and the unpreconditioned bdf.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Eigenvalues>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/detail/shifted_solve.hpp"
#include "flowsense/integrate/integrate_impl.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::relative_error;

namespace {

/// d = 8, m = 24 Gaussian measurements of a planted rank-2 matrix, c = 1/4:
/// m < n = d p = 64 for the full-width factor, as in Example 1.1 (240 < 900).
SensingLoss small_loss(Index m = 24) {
  auto op = std::make_shared<GaussianOperator>(8, m, GaussianScale::unit, 31);
  return SensingLoss(Problem::noiseless(op, planted_trace_one(8, 2, 32)), loss_constant::paper000);
}

Matrix vec(const Matrix& V) { return Eigen::Map<const Vector>(V.data(), V.size()); }
Matrix unvec(const Vector& v, Index rows) { return Eigen::Map<const Matrix>(v.data(), rows, v.size() / rows); }

/// The largest eigenvalue of the symmetric matrix A.
double lambda_max(const Matrix& A) { return Eigen::SelfAdjointEigenSolver<Matrix>(A).eigenvalues().maxCoeff(); }

}  // namespace

TEST_CASE("the Woodbury preconditioner inverts I + sigma c Jr^T Jr for every sigma", "[preconditioner]") {
  const SensingLoss loss = small_loss();
  Rng rng(5);
  // A full-rank U (G = Jr Jr^T nonsingular) and a rank-1 one (G singular:
  // rank(Jr) <= 2 d r - r^2 = 15 < m = 24), where the floor on I/a keeps
  // the Cholesky factor defined.
  const Matrix U_full = rng.normal_matrix(8, 8);
  const Matrix U_low = rng.normal_matrix(8, 1) * rng.normal_matrix(1, 8);
  for (const Matrix* U : {&U_full, &U_low}) {
    Matrix Jr;
    loss.residual_jacobian(*U, Jr);
    const Matrix JtJ = Jr.transpose() * Jr;
    const GaussNewtonInverse P(loss, *U);
    const Matrix vm = rng.normal_matrix(U->size(), 1);
    const Vector v = vm.col(0);
    for (double sigma : {1e-4, 1e-2, 1.0, 1e2, 1e4}) {
      const double a = sigma * loss.c();
      const Matrix M = Matrix::Identity(U->size(), U->size()) + a * JtJ;
      Matrix out;
      P(sigma, unvec(M * v, 8), out);  // a new sigma: factored for it exactly
      // Rounding: a backward-stable solve recovers v to ~eps cond(M), and
      // cond(M) = 1 + a lambda_max(Jr^T Jr) runs from ~1 to ~3e7 here
      // (measured: 1.7-2.4e-16 cond); 1e-14 cond leaves a factor 40, and
      // up to sigma = 1 (cond <= ~3e3) that is below 1e-12 as well.
      const double cond = 1.0 + a * lambda_max(JtJ);
      const double e = (vec(out) - v).norm() / v.norm();
      INFO((U == &U_full ? "full-rank U" : "rank-1 U") << ", sigma = " << sigma << ", cond " << cond << ": error " << e);
      CHECK(e < std::max(1e-14, 1e-14 * cond));
      if (sigma <= 1.0) CHECK(e < 1e-12);
    }
  }
}

TEST_CASE("the fused product is (I - sigma J) Q with the dense Jacobian, fresh or stale factor", "[preconditioner]") {
  const SensingLoss loss = small_loss();
  FactorFlow flow(loss);
  Rng rng(6);
  const Matrix U = 2.0 * rng.normal_matrix(8, 8);  // far from the data: S = A*(r) is not small
  Matrix J;
  flow.dense_jacobian(U, J);
  const GaussNewtonInverse P(loss, U);
  const Matrix Y = rng.normal_matrix(8, 8);
  const Index n = U.size();
  // 0.1 first (factored exactly), then 0.12 (inside the factor's range of
  // 1.5x: the stale branch with the extra adjoint), then 10 (refactored).
  for (double sigma : {0.1, 0.12, 10.0}) {
    Matrix Q, NQ, Q_plain;
    P.solve_apply(sigma, Y, Q, NQ);
    P(sigma, Y, Q_plain);
    const Matrix N = Matrix::Identity(n, n) - sigma * J;
    INFO("sigma = " << sigma << ", factorizations " << P.factorizations());
    CHECK(relative_error(Q, Q_plain) < 1e-13);
    CHECK(relative_error(vec(NQ), N * vec(Q)) < 1e-11);
  }
  CHECK(P.factorizations() == 2);
}

TEST_CASE("preconditioned GMRES solves the BDF matrix in fewer iterations than plain GMRES", "[preconditioner]") {
  // The converged stiff tail in miniature: data planted from a full-rank
  // factor W of norm ~10 (lambda_max(H) ~ 1e3), the state 1e-3 away from it,
  // so that S = A*(r) is small and the Gauss-Newton part dominates J; a
  // BDF-sized shift sigma = 1e3 / lambda_max puts N's condition at ~1e3.
  auto op = std::make_shared<GaussianOperator>(8, 24, GaussianScale::unit, 33);
  Rng rng(7);
  const Matrix W = 10.0 * rng.normal_matrix(8, 8) / std::sqrt(8.0);
  const SensingLoss loss(Problem::noiseless_from_factor(op, W), loss_constant::paper000);
  FactorFlow flow(loss);
  const Matrix U = W + 1e-3 * rng.normal_matrix(8, 8);
  Matrix J;
  flow.dense_jacobian(U, J);
  const double rho = lambda_max(-J);
  const double sigma = 1e3 / rho;
  const Matrix r = rng.normal_matrix(8, 8);
  const Matrix w = Matrix::Constant(8, 8, 1e-3);  // error weights: the tolerance is in their units
  StiffOptions stiff;
  stiff.krylov_tolerance = 1e-3;  // ~1e-7 of ||r / w||
  stiff.krylov_restart = 300;     // no restart: every iteration is one application
  detail::FrozenJacobian<FactorFlow> jac(flow, U, nullptr);
  const GaussNewtonInverse P(loss, U);
  const Matrix N = Matrix::Identity(U.size(), U.size()) - sigma * J;
  int plain = 0, preconditioned = 0;
  for (bool with : {false, true}) {
    Matrix u;
    std::string reason;
    int iterations = 0;
    StiffStats stats;
    const bool ok = with ? detail::solve_krylov_shifted(jac, w, sigma, r, u, stiff, &stats, reason, &iterations, &P)
                         : detail::solve_krylov_shifted(jac, w, sigma, r, u, stiff, &stats, reason, &iterations);
    INFO((with ? "preconditioned" : "plain") << ": " << iterations << " iterations " << reason);
    REQUIRE(ok);
    // The weighted residual ||(r - N u) / w||_F is what GMRES bounds.
    const Vector res = (vec(r) - N * vec(u)).cwiseQuotient(vec(w));
    // (GMRES tracks it by its recurrence; the true one agrees to rounding.)
    CHECK(res.norm() <= 1.1 * stiff.krylov_tolerance);
    (with ? preconditioned : plain) = iterations;
    if (with) CHECK(stats.preconditioner_applications == static_cast<std::uint64_t>(iterations));
  }
  INFO("plain " << plain << ", preconditioned " << preconditioned << " iterations");
  CHECK(plain >= 10);
  CHECK(preconditioned <= plain / 3);
}

TEST_CASE("bdf with the Woodbury preconditioner agrees with dopri5 and with plain GMRES", "[preconditioner][bdf]") {
  // A full-width start of norm 5 (d = 8, p = 8, m = 24 < n / 2 = 32) to
  // T = 20: the collapse onto the data, then the converged stiff tail where
  // m < D = 36 leaves the start's null-space part and lambda_max(H) large.
  // As in test_bdf.cpp, bdf at rtol 1e-8 must match X = U U^T of dopri5
  // at rtol 1e-12 to 100 rtol, with every preconditioner choice, in flow
  // and log time.
  FactorFlow flow(small_loss());
  Rng rng(8);
  const Matrix U0 = 5.0 * rng.normal_matrix(8, 8) / std::sqrt(64.0);
  const std::vector<double> times = {0.0, 0.5, 20.0};
  IntegrateOptions ref_o;
  ref_o.stepper = StepperKind::dopri5;
  ref_o.rtol = 1e-12;
  ref_o.atol = 1e-16;
  std::vector<Matrix> ref;
  {
    Watch watch;
    watch.observe = [&](const Matrix& s, const StepInfo&) { ref.push_back(s * s.transpose()); };
    Matrix state = U0;
    REQUIRE(integrate(flow, state, times, ref_o, watch).ok());
  }
  for (TimeVariable time : {TimeVariable::flow, TimeVariable::log})
    for (Preconditioner p : {Preconditioner::none, Preconditioner::woodbury, Preconditioner::automatic}) {
      IntegrateOptions o;
      o.stepper = StepperKind::bdf;
      o.rtol = 1e-8;
      o.atol = 1e-12;
      o.step = 1e-6;
      o.time = time;
      o.stiff.dense_max_size = 0;  // GMRES on this small state
      o.stiff.preconditioner = p;
      std::vector<Matrix> X;
      Watch watch;
      watch.observe = [&](const Matrix& s, const StepInfo&) { X.push_back(s * s.transpose()); };
      Matrix state = U0;
      const Summary s = integrate(flow, state, times, o, watch);
      INFO(to_string(time) << " time, " << s.stepper_used << ": " << s.message << ", steps " << s.last.steps
                           << ", rhs " << s.last.rhs << ", jvp " << s.last.jvp << ", GMRES iterations "
                           << s.stiff.krylov_iterations << ", builds " << s.stiff.preconditioner_builds
                           << ", applications " << s.stiff.preconditioner_applications);
      REQUIRE(s.ok());
      REQUIRE(X.size() == times.size());
      for (std::size_t j = 1; j < times.size(); ++j) CHECK(relative_error(X[j], ref[j]) < 100 * o.rtol);
      if (p == Preconditioner::woodbury) {
        CHECK(s.stiff.preconditioner_builds > 0);
        // Every iteration applies it, except the products for the true
        // residual at a GMRES restart.
        CHECK(s.stiff.preconditioner_applications > 0);
        CHECK(s.stiff.preconditioner_applications <= s.stiff.krylov_iterations);
        CHECK(s.stepper_used.find("Woodbury") != std::string::npos);
      }
      if (p == Preconditioner::none) CHECK(s.stiff.preconditioner_applications == 0);
    }
}

TEST_CASE("auto leaves the preconditioner off where m > n / 2", "[preconditioner][bdf]") {
  // m = 40 > n / 2 = 32: the Woodbury form would be larger than the state.
  FactorFlow flow(small_loss(40));
  Rng rng(9);
  Matrix U = 5.0 * rng.normal_matrix(8, 8) / 8.0;
  IntegrateOptions o;
  o.stepper = StepperKind::bdf;
  o.step = 1e-6;
  o.stiff.dense_max_size = 0;
  const Summary s = integrate(flow, U, {0.0, 20.0}, o, Watch{});
  INFO(s.stepper_used);
  REQUIRE(s.ok());
  CHECK(s.stiff.preconditioner_builds == 0);
  CHECK(s.stepper_used.find("no preconditioner (m = 40 > n / 2 = 32)") != std::string::npos);
}

TEST_CASE("the preconditioner names round-trip and auto is the default", "[preconditioner][options]") {
  for (Preconditioner p : {Preconditioner::none, Preconditioner::woodbury, Preconditioner::automatic})
    CHECK(preconditioner_from_string(to_string(p)) == p);
  CHECK(!preconditioner_from_string("jacobi"));
  CHECK(StiffOptions{}.preconditioner == Preconditioner::automatic);
  // Run configs: test_stiff_steppers.cpp, "run configs accept the stiff steppers ...".
}
