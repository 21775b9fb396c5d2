// GD with the papers' learning rates is the Euler stepper with the mapped
// step (loss/sensing_loss.hpp, gd_step): checked against the papers' update
// formulas, bit for bit with the same operator calls and to 1e-12 with the
// independent dense reference.
//
// Paper 000 (3): U_{k+1} = U_k - eta grad ||A(U_k U_k^T) - b||^2,
//                grad ||A(UU^T) - b||^2 = 4 A*(A(UU^T) - b) U,  eta = 1e-4.
// Paper 003 (3): U_{t+1} = U_t - mu grad f(U_t), f = (1/4)||A(Z* - UU^T)||^2,
//                grad f = A*(A(UU^T) - y) U,  mu = 0.005, A scaled by 1/sqrt(m).
//
// Why the Euler step reproduces them bit for bit. odeint's Euler step is
// x <- 1.0 * x + h * dxdt with dxdt = -(2c * G), G = A*(r) U as computed by
// adjoint_times (FactorFlow, SensingLoss::value_and_gradient).
//  * Paper 000: c = 1/4, h = gd_step(eta, 1, 1/4) = (2 * 1 / 0.25) * eta = 8 * eta,
//    and 2 / 0.25 = 8 and 8 * eta are exact (powers of two only shift the
//    exponent). So h * dxdt = -(8 eta) * (0.5 G): both factors are exact
//    scalings of eta and G, and the product is the one rounding of the real
//    number 4 eta G, which is also the one rounding of eta * (4 G) in the
//    paper's formula (4 G exact). 1.0 * x is exact and x + (-a) = x - a.
//  * Paper 003: c = 1/2, h = gd_step(mu, 1/4, 1/2) = ((2 * 0.25) / 0.5) * mu
//    = 1.0 * mu = mu exactly, 2c = 1, so h * dxdt = -(mu * G) exactly as in
//    U - mu * G.
// This holds for any IEEE double build without contracted x + h * d (FMA)
// on one side only: the x86-64 baseline that CMake's Release flags target
// has no FMA instructions. (With -mfma both sides contract alike only if the
// compiler fuses both, so a -march=native build may legitimately differ in
// the last bit; the 1e-12 dense comparison below is the portable check.)
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::relative_error;
using oracle::Sci;

TEST_CASE("gd_step maps the papers' learning rates to flow time exactly", "[oracle][gd]") {
  for (double lr : {1e-4, 0.005, 1.0 / 3.0, 0.7, 1e-12}) {
    INFO("learning rate " << lr);
    CHECK(gd_step(lr, gd_objective_weight::paper000, loss_constant::paper000) == 8.0 * lr);
    CHECK(gd_step(lr, gd_objective_weight::paper003, loss_constant::paper003) == lr);
  }
}

namespace {

struct GdCase {
  const char* name;
  Index d, m;
  GaussianScale scale;
  double c;                 // loss constant of the flow
  double objective_weight;  // w in w ||r||^2, the objective the paper's GD differentiates
  double learning_rate;
  Matrix planted;
  Matrix U0;
};

/// Runs the Euler stepper for `steps` GD iterations and returns U_0..U_steps
/// (one observation per iteration).
std::vector<Matrix> euler_iterates(const SensingLoss& loss, const Matrix& U0, double h, int steps,
                                   Recorder* recorder) {
  FactorFlow flow(loss);
  IntegrateOptions options;
  options.stepper = StepperKind::euler;
  options.step = h;
  std::vector<double> times;
  for (int k = 0; k <= steps; ++k) times.push_back(k * h);
  std::vector<Matrix> iterates;
  Watch watch;
  watch.observe = [&](const Matrix& U, const StepInfo& info) {
    iterates.push_back(U);
    recorder->record(U, info);
  };
  Matrix U = U0;
  const Summary summary = integrate(flow, U, times, options, watch);
  INFO(summary.message);
  REQUIRE(summary.termination == Termination::completed);
  REQUIRE(summary.last.steps == static_cast<std::uint64_t>(steps));
  return iterates;
}

}  // namespace

TEST_CASE("Euler with h = gd_step(...) is the papers' GD, bit for bit", "[oracle][gd]") {
  const int steps = 60;
  std::vector<GdCase> cases;
  // Paper 000, Example 1.1: d = 30, m = 4 r d = 240, s = 1, eta = 1e-4.
  cases.push_back({"paper 000 (3), eta = 1e-4", 30, 240, GaussianScale::unit,
                   loss_constant::paper000, gd_objective_weight::paper000, 1e-4,
                   planted_trace_one(30, 2, 51), random_factor(30, 30, 30, 1.0, 52)});
  // Paper 003, Section 6: mu = 0.005, s = 1/sqrt(m), Z* = X X^T with
  // orthogonal columns (d, m smaller than the paper's 50, 1000 to stay fast).
  cases.push_back({"paper 003 (3), mu = 0.005", 20, 400, GaussianScale::inv_sqrt_m,
                   loss_constant::paper003, gd_objective_weight::paper003, 0.005,
                   planted_orthogonal(20, {5.0, 4.0, 3.0, 2.0, 1.0}, 53),
                   random_factor(20, 20, 20, 0.1, 54)});

  for (const auto& gc : cases) {
    INFO(gc.name);
    auto op = std::make_shared<GaussianOperator>(gc.d, gc.m, gc.scale, 55);
    const Problem problem = Problem::noiseless(op, gc.planted);
    // The plain operator form with two passes over M: the same operator
    // calls as the formula below (the fused pass and the normal form agree
    // to ~1e-13: tests/test_fused_residual.cpp, tests/test_normal_operator.cpp).
    OperatorFormOptions plain;
    plain.form = OperatorForm::plain;
    plain.fused_memory_limit = 0;
    const SensingLoss loss(problem, gc.c, plain);
    const double h = gd_step(gc.learning_rate, gc.objective_weight, gc.c);
    Recorder recorder(loss, StateKind::factor, {std::make_shared<IterationMetric>()}, h);
    const auto iterates = euler_iterates(loss, gc.U0, h, steps, &recorder);
    REQUIRE(iterates.size() == std::size_t(steps + 1));

    // The paper's formula with the same operator calls (residual,
    // adjoint_times): grad (w ||r||^2) = 4 w A*(r) U.
    Matrix U = gc.U0;
    bool identical = true;
    int first_difference = -1;
    for (int k = 0; k < steps; ++k) {
      Matrix G;
      op->adjoint_times(loss.residual(U), U, G);
      U = U - gc.learning_rate * ((4.0 * gc.objective_weight) * G);
      if (!(U == iterates[std::size_t(k + 1)]) && identical) {
        identical = false;
        first_difference = k + 1;
      }
    }
    INFO("first iterate that differs: " << first_difference);
    CHECK(identical);

    // The same formula from the dense reference sum over A_i, sharing no code
    // with the flow. Each step agrees to ~1e-15 relative (rounding of the two
    // summation orders); GD at these rates is stable (eta ||Hessian|| < 1),
    // so the differences do not grow beyond ~steps * 1e-15. 1e-12 allows a
    // factor of 10 more.
    const oracle::DenseSensing dense(*op);
    Matrix V = gc.U0;
    double worst = 0;
    for (int k = 0; k < steps; ++k) {
      V = V - gc.learning_rate * gc.objective_weight * dense.gradient_of_squared_residual(V, problem.b);
      worst = std::max(worst, relative_error(iterates[std::size_t(k + 1)], V));
    }
    CHECK(Sci{worst} < 1e-12);
    // GD made progress (the comparison is not between two standing states).
    CHECK(loss.training_error(iterates.back()) < 0.99 * loss.training_error(gc.U0));

    // The observation times are the GD iterations: "iteration" = t / h = k.
    const auto iteration = recorder.trajectory().column("iteration");
    REQUIRE(iteration.size() == std::size_t(steps + 1));
    for (int k = 0; k <= steps; ++k) CHECK_THAT(iteration[std::size_t(k)], Catch::Matchers::WithinAbs(k, 1e-9));
  }
}
