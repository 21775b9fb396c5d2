#include <catch2/catch.hpp>

#include "flowsense/flowsense.hpp"

using namespace flowsense;

TEST_CASE("factor flow end to end on Example 1.1 sizes reduces the training error", "[smoke]") {
  auto op = std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, 1);
  auto problem = Problem::noiseless(op, planted_trace_one(30, 2, 2));
  SensingLoss loss(problem, loss_constant::paper000);
  FactorFlow flow(loss);
  Matrix U = random_factor(30, 30, 2, 1.0, 3);
  Recorder rec(loss, StateKind::factor, standard_metrics(&problem.planted, 1e-8, 3),
               gd_step(1e-4, gd_objective_weight::paper000, loss.c()));
  IntegrateOptions opt;
  opt.stepper = StepperKind::dopri5;
  auto summary = integrate(flow, U, log_times(1e-3, 1.0, 20), opt, {rec.observer()});
  rec.finish(summary);
  INFO(summary.message);
  CHECK(summary.ok());
  auto tr = rec.trajectory().column("training_error");
  CHECK(tr.back() < 1e-3 * tr.front());
  CHECK(rec.trajectory().final_value("rank") == 2);
}
