// Uses the installed flowsense through find_package(flowsense): headers from
// the install prefix (including the generated version.hpp), the library and
// its dependencies (Eigen, Boost, Spectra, nlohmann_json) through the
// flowsense::flowsense target. Exits non-zero if anything is off.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <flowsense/flowsense.hpp>

int main() {
  using namespace flowsense;
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++failures;
  };
  check(std::strlen(version) > 0, "version string from the installed version.hpp");

  // A small full-observation problem: the flow U' = (Z - UU^T) U (c = 1/2)
  // from a generic start converges to Z, so the loss must fall by orders.
  auto op = std::make_shared<FullObservation>(6);
  const Problem problem = Problem::noiseless(op, planted_trace_one(6, 2, 7));
  const SensingLoss loss(problem, loss_constant::paper003);
  FactorFlow flow(loss);
  Matrix U = random_factor(6, 2, 2, 0.5, 11);
  const double before = loss.value(U);
  IntegrateOptions options;
  options.stepper = StepperKind::dopri5;
  options.rtol = 1e-10;
  options.atol = 1e-12;
  const Summary summary = integrate(flow, U, linear_times(0.0, 200.0, 3), options, Watch{});
  const double after = loss.value(U);
  std::printf("loss %.3e -> %.3e, %s\n", before, after, summary.message.c_str());
  check(summary.ok(), "integrate() completed");
  check(after < 1e-12 * before, "the loss fell by more than 12 orders of magnitude");
  check(std::abs((U * U.transpose() - problem.planted).norm()) < 1e-6, "U U^T reached X");
  return failures == 0 ? 0 : 1;
}
