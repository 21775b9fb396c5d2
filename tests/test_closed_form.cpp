// Every integrator against the exact solution of the full-observation flow
// (DESIGN.md; derivation in tests/oracles.hpp):
//   A = identity on symmetric matrices, c = 1/2, U' = (Z - UU^T) U,
//   X(t) = Y K^{-1} Y^T, Y = e^{Zt} U0, K = I + 2 U0^T (int_0^t e^{2Zs} ds) U0.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::FullObservationFlow;
using oracle::relative_error;
using oracle::Sci;

namespace {

using oracle::closed_form_setups;
using oracle::full_observation_loss;
using oracle::with_spectrum;

/// Integrates `system` and returns X = gram(state) at every observation time.
template <class System, class Gram>
std::vector<Matrix> observe_grams(System& system, Matrix state, const std::vector<double>& times,
                                  const IntegrateOptions& options, Gram gram, Summary* summary) {
  std::vector<Matrix> grams;
  Watch watch;
  watch.observe = [&](const Matrix& s, const StepInfo&) { grams.push_back(gram(s)); };
  *summary = integrate(system, state, times, options, watch);
  return grams;
}

Matrix factor_gram(const Matrix& U) { return U * U.transpose(); }
Matrix identity_gram(const Matrix& X) { return X; }

}  // namespace

TEST_CASE("closed-form oracle: integral of e^{2 lambda s} handles zero and tiny eigenvalues",
          "[oracle][closed_form]") {
  using Catch::Matchers::WithinRel;
  // lambda = 0 exactly must give t (not 0/0); tiny lambda must tend to t.
  CHECK(oracle::integral_exp2(0.0, 2.5) == 2.5);
  CHECK_THAT(oracle::integral_exp2(1e-300, 2.5), WithinRel(2.5, 1e-15));
  CHECK_THAT(oracle::integral_exp2(-1e-17, 50.0), WithinRel(50.0, 1e-14));
  // Against the elementary value (e^{2 lambda t} - 1) / (2 lambda) where it
  // has no cancellation; expm1/x is accurate to a few ulps.
  CHECK_THAT(oracle::integral_exp2(1.0, 3.0), WithinRel((std::exp(6.0) - 1.0) / 2.0, 1e-14));
  CHECK_THAT(oracle::integral_exp2(-0.25, 4.0), WithinRel((std::exp(-2.0) - 1.0) / -0.5, 1e-14));
}

TEST_CASE("closed-form oracle solves X' = ZX + XZ - 2X^2 from X(0) = U0 U0^T",
          "[oracle][closed_form]") {
  for (const auto& setup : closed_form_setups()) {
    INFO(setup.name);
    const FullObservationFlow exact(setup.Z, setup.U0);
    const Matrix X0 = setup.U0 * setup.U0.transpose();
    // V (V^T U0)(V^T U0)^T V^T with an orthogonal V: a few d u of rounding.
    CHECK(Sci{relative_error(exact.gram(0.0), X0)} < 1e-14);

    // The piecewise evaluation equals the one-shot formula where the latter
    // is well conditioned (K's condition <= e^{2 lambda_max t} ~ 3 at t = 0.5):
    // both are accurate to a few hundred unit roundoffs.
    for (double t : {0.1, 0.5}) {
      INFO("t = " << t);
      CHECK(Sci{relative_error(exact.gram(t), exact.single_shot(t))} < 1e-13);
    }

    // d/dt X(t) by the five-point stencil against the right-hand side. With
    // step delta = 1e-3 the truncation error is delta^4/30 |X^(5)| ~ 1e-13
    // (every time derivative is O(1) here: rates <= 1) and the rounding error
    // is (3/2) * (200 pieces * 4 u) / delta ~ 1e-10 of ||X||; the bound
    // 1e-8 * (||Z|| ||X|| + ||X||^2) leaves a margin of 100 and is still
    // 1e8 times smaller than the O(1) error of any wrong formula.
    const double delta = 1e-3;
    for (double t : {0.5, 2.0, 10.0, 50.0}) {
      INFO("t = " << t);
      const Matrix X = exact.gram(t);
      const Matrix dX = oracle::five_point_derivative(
          [&](double e) -> Matrix { return exact.gram(t + e); }, delta);
      const double scale = setup.Z.norm() * X.norm() + X.squaredNorm();
      CHECK(Sci{(dX - exact.velocity(X)).norm() / scale} <= 1e-8);
    }
  }
}

TEST_CASE("dopri5 and fehlberg78 follow the full-observation closed form to 1e-8",
          "[oracle][closed_form][adaptive]") {
  // With rtol = 1e-11 each step's local error is below ~1e-11 of the state;
  // the flow is contracting except in its growth phase, where relative
  // errors are carried along, so the global error stays within a few hundred
  // local tolerances: 1e-8 relative is the requirement, met with
  // room (measured: 4e-15 .. 7e-12 over both steppers, both flows, both
  // setups and all four times). atol = 1e-14 only matters for entries
  // below 1e-3 of the state, which do not move the relative Frobenius error.
  const std::vector<double> times = {0.0, 0.5, 2.0, 10.0, 50.0};
  for (StepperKind kind : {StepperKind::dopri5, StepperKind::fehlberg78}) {
    for (const auto& setup : closed_form_setups()) {
      INFO(to_string(kind) << ", " << setup.name);
      const FullObservationFlow exact(setup.Z, setup.U0);
      IntegrateOptions options;
      options.stepper = kind;
      options.rtol = 1e-11;
      options.atol = 1e-14;
      options.step = 1e-3;

      FactorFlow flow(full_observation_loss(setup.Z));
      Summary summary;
      auto grams = observe_grams(flow, setup.U0, times, options, factor_gram, &summary);
      INFO(summary.message);
      REQUIRE(summary.termination == Termination::completed);
      REQUIRE(grams.size() == times.size());
      for (std::size_t j = 1; j < times.size(); ++j) {
        INFO("factor flow, t = " << times[j]);
        CHECK(Sci{relative_error(grams[j], exact.gram(times[j]))} < 1e-8);
      }

      // The Gram flow (30) from X0 = U0 U0^T reaches the same X(t).
      GramFlow gram_flow(full_observation_loss(setup.Z));
      auto gram_path = observe_grams(gram_flow, Matrix(setup.U0 * setup.U0.transpose()), times,
                                     options, identity_gram, &summary);
      REQUIRE(summary.termination == Termination::completed);
      REQUIRE(gram_path.size() == times.size());
      for (std::size_t j = 1; j < times.size(); ++j) {
        INFO("Gram flow, t = " << times[j]);
        CHECK(Sci{relative_error(gram_path[j], exact.gram(times[j]))} < 1e-8);
      }
    }
  }
}

namespace {

/// Relative error of X(T) for a fixed-step run with step h.
double fixed_step_error(StepperKind kind, const oracle::ClosedFormSetup& setup, double T, double h) {
  IntegrateOptions options;
  options.stepper = kind;
  options.step = h;
  FactorFlow flow(full_observation_loss(setup.Z));
  Summary summary;
  auto grams = observe_grams(flow, setup.U0, {0.0, T}, options, factor_gram, &summary);
  REQUIRE(summary.termination == Termination::completed);
  REQUIRE(summary.last.t == T);
  return relative_error(grams.back(), FullObservationFlow(setup.Z, setup.U0).gram(T));
}

/// log2 of successive error ratios as the step is halved.
std::vector<double> observed_orders(StepperKind kind, const oracle::ClosedFormSetup& setup, double T,
                                    const std::vector<double>& steps) {
  std::vector<double> errors;
  for (double h : steps) errors.push_back(fixed_step_error(kind, setup, T, h));
  std::vector<double> orders;
  for (std::size_t k = 1; k < errors.size(); ++k) {
    UNSCOPED_INFO(to_string(kind) << ": h = " << steps[k - 1] << " -> " << steps[k] << ", error "
                                  << errors[k - 1] << " -> " << errors[k]);
    orders.push_back(std::log2(errors[k - 1] / errors[k]));
  }
  return orders;
}

}  // namespace

TEST_CASE("RK4 and Euler converge with orders 4 and 1 to the closed form",
          "[oracle][closed_form][order]") {
  // Global error e(h) = C h^q + O(h^{q+1}), so log2(e(h)/e(h/2)) = q + O(h).
  // The steps below are in the asymptotic regime (the next term changes the
  // observed order by < 0.1 for Euler and RK4 at these h; measured orders
  // 3.97 .. 4.002 and 0.997 .. 1.001), and the smallest error (RK4 ~5e-10,
  // Euler ~2e-4) is far above the oracle's ~1e-14, so the
  // band q +- 0.3 (RK4) and q +- 0.1 (Euler) tests the order itself.
  // Powers of two: T / h is an integer, so the run lands exactly on T.
  const double T = 2.0;
  for (const auto& setup : closed_form_setups()) {
    INFO(setup.name);
    for (double q : observed_orders(StepperKind::rk4, setup, T, {1.0 / 16, 1.0 / 32, 1.0 / 64})) {
      CHECK(q >= 3.7);
      CHECK(q <= 4.3);
    }
    for (double q :
         observed_orders(StepperKind::euler, setup, T, {1.0 / 256, 1.0 / 512, 1.0 / 1024})) {
      CHECK(q >= 0.9);
      CHECK(q <= 1.1);
    }
  }
}
