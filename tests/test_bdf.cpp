// The variable-order BDF stepper (integrate/bdf.hpp), dense and Krylov.
//
// Oracles: the exponential of a stiff symmetric matrix (linear y' = A y),
// the logistic equation's closed form (scalar, nonlinear, stiff at its
// stable equilibrium), dopri5 at a much tighter tolerance on the factor flow
// (full and reduced states), and the observation grid itself (every time is
// landed on exactly, also after sliver steps that force the history to be
// re-sampled from far apart points).
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Eigenvalues>

#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/flow/reduced_flow.hpp"
#include "flowsense/integrate/bdf.hpp"
#include "flowsense/integrate/integrate_impl.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::relative_error;

namespace {

/// y' = A y with A symmetric: J = A everywhere.
struct LinearSystem {
  static constexpr bool symmetric_jacobian = true;
  Matrix A;
  void operator()(const Matrix& x, Matrix& dx, double) const { dx = A * x; }
  void jacobian_vector(const Matrix&, const Matrix& v, Matrix& out) const { out = A * v; }
};

/// y' = lambda y (1 - y): y(t) = 1 / (1 + (1/y0 - 1) e^{-lambda t}).
struct Logistic {
  double lambda;
  void operator()(const Matrix& x, Matrix& dx, double) const {
    dx = (lambda * x.array() * (1.0 - x.array())).matrix();
  }
  void jacobian_vector(const Matrix& x, const Matrix& v, Matrix& out) const {
    out = (lambda * (1.0 - 2.0 * x.array()) * v.array()).matrix();
  }
  double exact(double y0, double t) const { return 1.0 / (1.0 + (1.0 / y0 - 1.0) * std::exp(-lambda * t)); }
};

struct Run {
  Summary summary;
  std::vector<Matrix> states;
  std::vector<double> times;
};

template <class System>
Run run(System& system, Matrix state, const std::vector<double>& times, const IntegrateOptions& o) {
  Run r;
  Watch watch;
  watch.observe = [&](const Matrix& s, const StepInfo& i) {
    r.states.push_back(s);
    r.times.push_back(i.t);
  };
  r.summary = integrate(system, state, times, o, watch);
  return r;
}

IntegrateOptions bdf_options(double rtol, double atol, std::int64_t dense_max_size = 200) {
  IntegrateOptions o;
  o.stepper = StepperKind::bdf;
  o.rtol = rtol;
  o.atol = atol;
  o.step = 1e-6;
  o.stiff.dense_max_size = dense_max_size;
  return o;
}

/// A = Q diag(-lambda) Q^T, lambda log-spaced in [1, 1e6].
Matrix stiff_matrix(int n) {
  std::vector<double> ev;
  for (int i = 0; i < n; ++i) ev.push_back(-std::pow(10.0, 6.0 * i / (n - 1)));
  return oracle::with_spectrum(ev, 5);
}

Matrix exact_linear(const Matrix& A, const Matrix& y0, double t) {
  Eigen::SelfAdjointEigenSolver<Matrix> es(A);
  const Vector e = (es.eigenvalues() * t).array().exp().matrix();
  return es.eigenvectors() * e.asDiagonal() * es.eigenvectors().transpose() * y0;
}

/// Worst relative error over the observation times after t = 0.
double worst_linear_error(const LinearSystem& sys, const Matrix& y0, const Run& r, const std::vector<double>& times) {
  double w = 0;
  for (std::size_t j = 1; j < times.size(); ++j)
    w = std::max(w, relative_error(r.states[j], exact_linear(sys.A, y0, times[j])));
  return w;
}

/// Example-1.1-like but small: d = 10, m = 80 Gaussian, planted rank 2, c = 1/4.
SensingLoss small_loss() {
  auto op = std::make_shared<GaussianOperator>(10, 80, GaussianScale::unit, 7);
  return SensingLoss(Problem::noiseless(op, planted_trace_one(10, 2, 8)), loss_constant::paper000);
}

}  // namespace

TEST_CASE("BDF follows the exponential of a stiff symmetric matrix (eigenvalues -1 .. -1e6)", "[bdf]") {
  // The flow contracts (A <= -I), so local errors are damped, not amplified:
  // the global error is about the local errors of the last unit of time,
  // each <= rtol (relative, maximum norm), i.e. a small multiple of rtol.
  // Measured errors / rtol stay below 5 (dense and GMRES); we allow 20. The
  // explicit stability limit would be h < 3.3e-6: the step count shows the
  // method is not bound by it.
  LinearSystem sys{stiff_matrix(12)};
  const Matrix y0 = Matrix::Ones(12, 1);
  const std::vector<double> times = {0.0, 0.5, 1.0, 2.0, 4.0};
  for (std::int64_t dense_max : {std::int64_t{200}, std::int64_t{0}}) {
    const double rtol = 1e-7;
    const Run r = run(sys, y0, times, bdf_options(rtol, 1e-12, dense_max));
    INFO(r.summary.stepper_used << ": " << r.summary.message);
    REQUIRE(r.summary.termination == Termination::completed);
    REQUIRE(r.states.size() == times.size());
    const double e = worst_linear_error(sys, y0, r, times);
    INFO("error " << e << ", steps " << r.summary.last.steps << ", rhs " << r.summary.last.rhs << ", jvp "
                  << r.summary.last.jvp);
    CHECK(e < 20 * rtol);
    CHECK(r.summary.last.steps < 2000);  // dopri5 would need > 4 / 3.3e-6 ~ 1.2e6
    CHECK(r.summary.stepper_used == (dense_max ? "bdf (dense Jacobian)" : "bdf (GMRES)"));
    if (dense_max) CHECK(r.summary.stiff.jacobians >= 1);
    else CHECK(r.summary.stiff.krylov_iterations > 0);
  }
}

TEST_CASE("BDF follows the logistic equation's closed form through its fast transition", "[bdf]") {
  // y' = 100 y (1 - y) from y0 = 1e-3: growth by 1000 in t ~ 0.07 (the
  // Jacobian +100: errors grow by e^{100 t} relative to a state 1000x
  // smaller, which cancels), then the stable equilibrium with J = -100.
  // Measured worst relative error / rtol ~ 3; we allow 50.
  Logistic sys{100.0};
  const double y0 = 1e-3;
  const std::vector<double> times = {0.0, 0.03, 0.07, 0.1, 0.3, 1.0, 5.0};
  for (std::int64_t dense_max : {std::int64_t{200}, std::int64_t{0}}) {
    const double rtol = 1e-8;
    const Run r = run(sys, Matrix::Constant(1, 1, y0), times, bdf_options(rtol, 1e-14, dense_max));
    REQUIRE(r.summary.ok());
    double w = 0;
    for (std::size_t j = 1; j < times.size(); ++j)
      w = std::max(w, std::abs(r.states[j](0) - sys.exact(y0, times[j])) / sys.exact(y0, times[j]));
    INFO(r.summary.stepper_used << ": worst relative error " << w << ", steps " << r.summary.last.steps);
    CHECK(w < 50 * rtol);
  }
}

TEST_CASE("BDF errors are proportional to rtol over three tolerances", "[bdf]") {
  // Tolerance proportionality: the step control holds the local error at
  // ~rtol, and a contracting flow sums the recent ones, so the global error
  // ~ C rtol with C nearly independent of rtol. C is not exactly constant for
  // a variable-order method (the order picked depends on rtol, and the
  // start at order 1 with tiny steps matters less at loose rtol), so we ask
  // each 100x tighter rtol to cut the error by between 10x and 1000x
  // (log-log slope in [0.5, 1.5]) and error / rtol to stay in [0.01, 20].
  LinearSystem sys{stiff_matrix(12)};
  const Matrix y0 = Matrix::Ones(12, 1);
  const std::vector<double> times = {0.0, 1.0, 4.0};
  std::vector<double> errors;
  const std::vector<double> rtols = {1e-4, 1e-6, 1e-8};
  for (double rtol : rtols) {
    const Run r = run(sys, y0, times, bdf_options(rtol, rtol * 1e-6));
    REQUIRE(r.summary.ok());
    errors.push_back(worst_linear_error(sys, y0, r, times));
    UNSCOPED_INFO("rtol " << rtol << ": error " << errors.back() << ", steps " << r.summary.last.steps);
  }
  for (std::size_t i = 0; i < errors.size(); ++i) {
    CHECK(errors[i] / rtols[i] < 20);
    CHECK(errors[i] / rtols[i] > 0.01);
  }
  for (std::size_t i = 1; i < errors.size(); ++i) {
    CHECK(errors[i - 1] / errors[i] > 10);
    CHECK(errors[i - 1] / errors[i] < 1000);
  }
}

TEST_CASE("BDF agrees with dopri5 on the factor flow, full and reduced states, dense and GMRES", "[bdf]") {
  // Example-1.1-like (d = 10, m = 80), rank-2 start of norm 1, to T = 30:
  // the growth phase, then the converged stiff tail. Reference: dopri5 at
  // rtol 1e-12. BDF at rtol 1e-8 must match X = U U^T to 100 rtol (the
  // growth phase amplifies early local errors; measured factors < 10).
  // The reduced state L (10 x 2, X = L L^T) must give the same X.
  FactorFlow flow(small_loss());
  const Matrix U0 = random_factor(10, 10, 2, 1.0, 9);
  const Matrix L0 = reduce_initial_factor(U0).L;
  REQUIRE(L0.cols() == 2);
  const std::vector<double> times = {0.0, 1.0, 30.0};
  IntegrateOptions ref_o;
  ref_o.stepper = StepperKind::dopri5;
  ref_o.rtol = 1e-12;
  ref_o.atol = 1e-16;
  const Run ref = run(flow, U0, times, ref_o);
  REQUIRE(ref.summary.ok());
  const double rtol = 1e-8;
  for (bool reduced : {false, true})
    for (std::int64_t dense_max : {std::int64_t{200}, std::int64_t{0}}) {
      const Run r = run(flow, reduced ? L0 : U0, times, bdf_options(rtol, 1e-12, dense_max));
      INFO((reduced ? "reduced, " : "full, ") << r.summary.stepper_used << ": " << r.summary.message << ", steps "
                                              << r.summary.last.steps << ", rhs " << r.summary.last.rhs
                                              << ", jvp " << r.summary.last.jvp);
      REQUIRE(r.summary.ok());
      for (std::size_t j = 1; j < times.size(); ++j) {
        const double e = relative_error(Matrix(r.states[j] * r.states[j].transpose()),
                                        Matrix(ref.states[j] * ref.states[j].transpose()));
        INFO("t = " << times[j] << ": error " << e);
        CHECK(e < 100 * rtol);
      }
    }
}

TEST_CASE("BDF lands on every observation time, also after sliver steps", "[bdf]") {
  // Observation times 1e-9 apart force steps far below the current one; the
  // history is then re-sampled from far-apart accepted points (bdf.hpp), so
  // the accuracy must not suffer: same bound as the smooth run above.
  LinearSystem sys{stiff_matrix(12)};
  const Matrix y0 = Matrix::Ones(12, 1);
  std::vector<double> times = {0.0};
  for (double t : {0.3, 0.7, 1.1, 1.9, 2.6, 3.3, 4.0}) {
    times.push_back(t);
    times.push_back(t + 1e-9);
  }
  for (std::int64_t dense_max : {std::int64_t{200}, std::int64_t{0}}) {
    const double rtol = 1e-7;
    const Run r = run(sys, y0, times, bdf_options(rtol, 1e-12, dense_max));
    REQUIRE(r.summary.termination == Termination::completed);
    REQUIRE(r.times.size() == times.size());
    for (std::size_t j = 0; j < times.size(); ++j) CHECK(r.times[j] == times[j]);
    const double e = worst_linear_error(sys, y0, r, times);
    INFO(r.summary.stepper_used << ": error " << e << ", steps " << r.summary.last.steps);
    CHECK(e < 20 * rtol);
  }
}

TEST_CASE("BDF starts a collapse whose first steps must be shorter than 1e-14", "[bdf]") {
  // x' = -x^3 from x0 = 1e5: x'' = 3 x^5 = 3e25 at t = 0, so an order-1
  // step of relative error rtol = 1e-10 needs h <= sqrt(2e-5 / 3e25) ~ 8e-16,
  // below what the driver once took for "no progress" at t = 0
  // (64 eps = 1.4e-14). Closed form: x(t) = x0 / sqrt(1 + 2 x0^2 t).
  oracle::CubicCollapse sys;
  const Matrix x0 = Matrix::Constant(1, 1, 1e5);
  IntegrateOptions o = bdf_options(1e-10, 1e-14);
  o.step = 1e-3;
  const Run r = run(sys, x0, {0.0, 1e-6, 1.0}, o);
  INFO(r.summary.message << "; steps " << r.summary.last.steps);
  REQUIRE(r.summary.ok());
  for (double t : {1e-6, 1.0}) {
    const double exact = 1e5 / std::sqrt(1.0 + 2.0 * 1e10 * t);
    CHECK(std::abs(r.states[t == 1.0 ? 2 : 1](0, 0) - exact) < 100 * 1e-10 * exact);
  }
}

TEST_CASE("bdf is a stepper name with the stiff options", "[bdf][options]") {
  CHECK(stepper_from_string("bdf") == StepperKind::bdf);
  CHECK(to_string(StepperKind::bdf) == "bdf");
  CHECK(is_adaptive(StepperKind::bdf));
  CHECK(uses_stiff_options(StepperKind::bdf));
  // Its config name and stiff options: tests/test_stiff_steppers.cpp, with the other stiff steppers.
}
