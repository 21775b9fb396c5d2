// The odeint copy specialization for Eigen matrices
// (include/flowsense/integrate/detail/odeint_eigen.hpp): with it every odeint
// stepper compiles for an Eigen::MatrixXd state with vector_space_algebra
// (Boost 1.74 + Eigen 3.4 otherwise fails for controlled and dense-output
// steppers) and integrates x' = -x to the accuracy its order promises.
// This file compiling is half of the test.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "flowsense/integrate/detail/odeint_eigen.hpp"
#include "oracles.hpp"

namespace odeint = boost::numeric::odeint;
using State = Eigen::MatrixXd;
using Algebra = odeint::vector_space_algebra;
using flowsense::oracle::Sci;

namespace {

/// x' = -x on a 3 x 2 matrix (a non-square state catches row/column mix-ups).
struct Decay {
  void operator()(const State& x, State& dxdt, double /*t*/) const { dxdt = -x; }
};

State initial() {
  State x(3, 2);
  x << 1.0, 2.0, -3.0, 0.5, 1e-3, -7.0;
  return x;
}

State exact(double t) { return std::exp(-t) * initial(); }

double error_at(const State& x, double t) { return (x - exact(t)).norm() / exact(t).norm(); }

/// Global error of `n` fixed steps of size h with a plain stepper.
template <class Stepper>
double fixed_step_error(Stepper stepper, double h, int n) {
  State x = initial();
  double t = 0;
  for (int k = 0; k < n; ++k, t += h) stepper.do_step(Decay(), x, t, h);
  return error_at(x, n * h);
}

/// For x' = lambda x an explicit Runge-Kutta step multiplies x by its
/// stability polynomial R(h lambda); n steps give R(-h)^n x0 exactly, up to
/// n rounding errors of a few u each.
template <class Stepper>
void check_stability_polynomial(Stepper stepper, double R, double h, int n) {
  State x = initial();
  double t = 0;
  for (int k = 0; k < n; ++k, t += h) stepper.do_step(Decay(), x, t, h);
  const State expected = std::pow(R, n) * initial();
  CHECK(Sci{(x - expected).norm() / expected.norm()} < 10.0 * n * 1.1e-16);
}

/// log2(e(h) / e(h/2)) for the plain stepper over [0, T].
template <class Stepper>
double observed_order(Stepper stepper, double h, double T) {
  const int n = static_cast<int>(std::lround(T / h));
  const double e1 = fixed_step_error(stepper, h, n), e2 = fixed_step_error(stepper, h / 2, 2 * n);
  UNSCOPED_INFO("h = " << h << ": error " << e1 << ", h/2: " << e2);
  return std::log2(e1 / e2);
}

constexpr double abs_tol = 1e-12, rel_tol = 1e-10;

/// The controlled steppers keep each step's error estimate below
/// abs_tol + rel_tol |x| (in odeint's max norm); for a contracting linear system
/// the global error is at most the sum of the local errors, so
/// steps * (abs_tol + rel_tol max|x0|) bounds it (relative to ||x0|| ~ 8 here).
double adaptive_bound(std::size_t steps) {
  return static_cast<double>(steps) * (abs_tol + rel_tol * 7.0) / exact(0).norm() * 10;
}

}  // namespace

TEST_CASE("odeint fixed-step steppers on an Eigen state reproduce their stability polynomials",
          "[odeint_eigen]") {
  const double h = 0.05;
  const int n = 40;
  const double z = -h;
  SECTION("euler: R(z) = 1 + z") {
    check_stability_polynomial(odeint::euler<State, double, State, double, Algebra>(), 1 + z, h, n);
  }
  const double R4 = 1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24;
  SECTION("runge_kutta4: R(z) = sum_k<=4 z^k / k!") {
    check_stability_polynomial(odeint::runge_kutta4<State, double, State, double, Algebra>(), R4, h, n);
  }
  SECTION("runge_kutta4_classic") {
    check_stability_polynomial(odeint::runge_kutta4_classic<State, double, State, double, Algebra>(), R4, h, n);
  }
}

TEST_CASE("odeint error steppers on an Eigen state show their orders (plain steps)",
          "[odeint_eigen]") {
  // Global error C h^p (1 + O(h)): observed orders within 0.3 of p for the
  // 5th-order methods at h = 0.2 -> 0.1, and 0.5 of p = 8 (Fehlberg 7(8)
  // propagates the 8th-order solution in odeint) at h = 0.5 -> 0.25, where
  // the errors (~1e-9 .. 1e-12) stay far above rounding (~1e-15).
  SECTION("runge_kutta_cash_karp54") {
    const double q = observed_order(odeint::runge_kutta_cash_karp54<State, double, State, double, Algebra>(), 0.2, 4.0);
    CHECK(std::abs(q - 5) < 0.3);
  }
  SECTION("runge_kutta_cash_karp54_classic") {
    const double q = observed_order(
        odeint::runge_kutta_cash_karp54_classic<State, double, State, double, Algebra>(), 0.2, 4.0);
    CHECK(std::abs(q - 5) < 0.3);
  }
  SECTION("runge_kutta_dopri5") {
    const double q = observed_order(odeint::runge_kutta_dopri5<State, double, State, double, Algebra>(), 0.2, 4.0);
    CHECK(std::abs(q - 5) < 0.3);
  }
  SECTION("runge_kutta_fehlberg78") {
    const double q = observed_order(odeint::runge_kutta_fehlberg78<State, double, State, double, Algebra>(), 0.5, 4.0);
    CHECK(std::abs(q - 8) < 0.5);
  }
  SECTION("adams_bashforth_moulton<5>") {
    const double q = observed_order(
        odeint::adams_bashforth_moulton<5, State, double, State, double, Algebra>(), 0.05, 4.0);
    CHECK(std::abs(q - 5) < 0.5);
  }
}

TEST_CASE("odeint controlled and dense-output steppers on an Eigen state meet their tolerance",
          "[odeint_eigen]") {
  const double T = 5.0;
  const std::vector<double> times = {0.0, 0.1, 0.7, 2.0, 3.3, T};
  auto check_times = [&](auto stepper, const char* name) {
    INFO(name);
    State x = initial();
    std::vector<std::pair<double, State>> seen;
    const std::size_t steps = odeint::integrate_times(
        stepper, Decay(), x, times.begin(), times.end(), 0.01,
        [&](const State& s, double t) { seen.emplace_back(t, s); });
    REQUIRE(seen.size() == times.size());
    REQUIRE(steps > 0);
    for (const auto& [t, s] : seen) {
      INFO("t = " << t << ", steps " << steps);
      CHECK(Sci{error_at(s, t)} < adaptive_bound(steps));
    }
  };
  auto check_adaptive = [&](auto stepper, const char* name) {
    INFO(name);
    State x = initial();
    const std::size_t steps = odeint::integrate_adaptive(stepper, Decay(), x, 0.0, T, 0.01);
    INFO("steps " << steps);
    REQUIRE(steps > 0);
    CHECK(Sci{error_at(x, T)} < adaptive_bound(steps));
  };

  check_adaptive(odeint::make_controlled(abs_tol, rel_tol, odeint::runge_kutta_cash_karp54<State, double, State, double, Algebra>()),
                 "controlled cash_karp54");
  check_adaptive(odeint::make_controlled(abs_tol, rel_tol, odeint::runge_kutta_dopri5<State, double, State, double, Algebra>()),
                 "controlled dopri5");
  check_adaptive(odeint::make_controlled(abs_tol, rel_tol, odeint::runge_kutta_fehlberg78<State, double, State, double, Algebra>()),
                 "controlled fehlberg78");
  check_times(odeint::make_controlled(abs_tol, rel_tol, odeint::runge_kutta_dopri5<State, double, State, double, Algebra>()),
              "controlled dopri5, integrate_times");
  check_times(odeint::make_dense_output(abs_tol, rel_tol, odeint::runge_kutta_dopri5<State, double, State, double, Algebra>()),
              "dense-output dopri5, integrate_times");
  check_adaptive(odeint::bulirsch_stoer<State, double, State, double, Algebra>(abs_tol, rel_tol), "bulirsch_stoer");
  check_times(odeint::bulirsch_stoer_dense_out<State, double, State, double, Algebra>(abs_tol, rel_tol),
              "bulirsch_stoer_dense_out, integrate_times");

  // The controlled stepper's try_step contract (what flowsense's driver uses):
  // a too large step is rejected with a smaller suggestion, t unchanged.
  auto controlled = odeint::make_controlled(abs_tol, rel_tol, odeint::runge_kutta_dopri5<State, double, State, double, Algebra>());
  State x = initial();
  double t = 0, dt = 2.0;
  CHECK(controlled.try_step(Decay(), x, t, dt) == odeint::fail);
  CHECK(t == 0.0);
  CHECK(dt < 2.0);
  CHECK(x == initial());
}
