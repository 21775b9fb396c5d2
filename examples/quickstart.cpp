// The README's usage example, compiled with the project (and, through
// tests/consumer, against the installed CMake package) so that it cannot rot.
// It runs the flow of paper 000's Example 1.1 from a rank-2 start.
//[quickstart
#include <cstdio>
#include <flowsense/flowsense.hpp>

int main() {
  using namespace flowsense;
  // Paper 000, Example 1.1: d = 30, X♮ of rank 2 and trace 1, m = 240 Gaussian measurements.
  auto op = std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, /*seed=*/1);
  Problem problem = Problem::noiseless(op, planted_trace_one(30, 2, /*seed=*/2));
  SensingLoss loss(problem, loss_constant::paper000);    // G(U) = (1/8) ||A(UU^T) - b||^2
  FactorFlow flow(loss);                                 // U' = -grad G(U)
  Matrix U = random_factor(30, 30, 2, 1.0, /*seed=*/3);  // rank(U0) = 2, ||U0||_F = 1
  const double h = gd_step(1e-4, gd_objective_weight::paper000, loss.c());  // one GD step: 8 eta
  Recorder recorder(loss, StateKind::factor, standard_metrics(&problem.planted), h);
  Summary summary = integrate(flow, U, log_times(h, 2000 * h, 30), IntegrateOptions{},
                              Watch{recorder.observer()});  // dopri5, rtol 1e-8
  std::printf("%s at GD iteration %.0f: test error ||UU^T - X||_F^2 = %.2e\n",
              to_string(summary.termination).c_str(), summary.last.t / h,
              recorder.trajectory().final_value("test_error"));
  return summary.ok() ? 0 : 1;
}
//]
