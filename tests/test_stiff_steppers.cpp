// The steppers for stiff phases (docs/steppers.md): RKC (rkc.hpp), the
// Rosenbrock-W method ROS34PW2 with dense and Krylov linear algebra
// (rosenbrock.hpp), `auto` (auto_stepper.hpp), and what they stand on: the
// Jacobian-vector products of the flows, Lanczos / power iteration, GMRES.
//
// Oracles: finite differences (Jacobians), known spectra (Lanczos, power
// iteration), a direct solve (GMRES), the stability polynomials' defining
// properties, the full-observation closed form of DESIGN.md (tests/oracles.hpp:
// integration accuracy and convergence orders), and dopri5 on the same stiff
// problem (evaluation counts at equal accuracy).
//
// A hidden case, "[.stiff_table]", prints the table of docs/steppers.md.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/auto_stepper.hpp"
#include "flowsense/integrate/detail/gmres.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/rkc.hpp"
#include "flowsense/integrate/rosenbrock.hpp"
#include "flowsense/integrate/spectral_radius.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/flow/reduced_flow.hpp"
#include "oracles.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

using oracle::closed_form_setups;
using oracle::full_observation_loss;
using oracle::relative_error;
using oracle::with_spectrum;


/// Example 1.1 of paper 000: d = 30, m = 240 Gaussian (s = 1), planted
/// trace-one rank 2, c = 1/4.
SensingLoss example_1_1_loss() {
  auto op = std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, 1);
  return SensingLoss(Problem::noiseless(op, planted_trace_one(30, 2, 2)), loss_constant::paper000);
}

/// The reduced start L0 = U0 R (U(t) = L(t) R^T, DESIGN.md): X = L L^T = U U^T.
Matrix reduce(const Matrix& U0) { return reduce_initial_factor(U0).L; }

struct Observed {
  Summary summary;
  std::vector<Matrix> states;
};

template <class System>
Observed integrate_observed(System& system, Matrix state, const std::vector<double>& times,
                            const IntegrateOptions& options) {
  Observed r;
  Watch watch;
  watch.observe = [&](const Matrix& s, const StepInfo&) { r.states.push_back(s); };
  r.summary = integrate(system, state, times, options, watch);
  return r;
}

IntegrateOptions stiff_options(StepperKind kind, double rtol, double atol) {
  IntegrateOptions o;
  o.stepper = kind;
  o.rtol = rtol;
  o.atol = atol;
  o.step = 1e-3;
  return o;
}

}  // namespace

// ===========================================================================
// Jacobian-vector products
// ===========================================================================

TEST_CASE("GramFlow::jacobian_vector is the derivative of the Gram right-hand side",
          "[stiff][jacobian]") {
  // F(X + eV) is a quadratic polynomial in e (S is affine in X, S X is
  // quadratic), so the five-point difference [F(-2e) - 8F(-e) + 8F(e) - F(2e)]/(12e)
  // is exact up to rounding: about 1.5 * 1e-15 * max ||F|| / e ~ 1e-11 of
  // ||F|| at e = 1e-3 (entries of F are O(100) here, the operator unscaled).
  // 1e-8 relative leaves three orders of margin and is 1e8 below the O(1)
  // error of a wrong term.
  const SensingLoss loss = example_1_1_loss();
  GramFlow flow(loss);
  Rng rng(7);
  const Matrix U = random_factor(30, 30, 3, 1.0, 8);
  const Matrix X = U * U.transpose();
  Matrix V = rng.normal_matrix(30, 30);
  V = (V + V.transpose()).eval() / 2;
  Matrix jv;
  flow.jacobian_vector(X, V, jv);
  auto F = [&](double e) {
    Matrix out;
    flow(Matrix(X + e * V), out, 0.0);
    return out;
  };
  const double e = 1e-3;
  const Matrix fd = (F(-2 * e) - 8 * F(-e) + 8 * F(e) - F(2 * e)) / (12 * e);
  CHECK(relative_error(jv, fd) < 1e-8);
  // The brief's form of the same product: -2c (dS X + X dS + S V + V S).
  const Matrix dS = loss.op().adjoint(loss.op()(V));
  Vector r = loss.op()(X) - loss.data();
  const Matrix S = loss.op().adjoint(r);
  const Matrix direct = -2 * loss.c() * (dS * X + X * dS + S * V + V * S);
  CHECK(relative_error(jv, direct) < 1e-12);
}

TEST_CASE("FactorFlow::linearize equals jacobian_vector and the finite difference",
          "[stiff][jacobian]") {
  // grad G_c(U + eV) is a cubic in e: the five-point difference is exact up
  // to rounding (same bound as above).
  const SensingLoss loss = example_1_1_loss();
  FactorFlow flow(loss);
  Rng rng(9);
  const Matrix U = random_factor(30, 4, 4, 1.0, 10);
  const Matrix V = rng.normal_matrix(30, 4);
  Matrix a, b;
  flow.jacobian_vector(U, V, a);
  flow.linearize(U)(V, b);
  CHECK(relative_error(b, a) < 1e-12);
  auto F = [&](double e) {
    Matrix out;
    flow(Matrix(U + e * V), out, 0.0);
    return out;
  };
  const double e = 1e-3;
  const Matrix fd = (F(-2 * e) - 8 * F(-e) + 8 * F(e) - F(2 * e)) / (12 * e);
  CHECK(relative_error(b, fd) < 1e-8);
}

// ===========================================================================
// Spectral estimates and GMRES on operators with known answers
// ===========================================================================

TEST_CASE("Lanczos finds the extreme eigenvalues and stays on the safe side",
          "[stiff][spectral]") {
  // A symmetric 200 x 200 operator with a Hessian-like spectrum: 150 zeros, a
  // spread of positive values up to 330, a few negative ones (a saddle).
  std::vector<double> spectrum(200, 0.0);
  for (int i = 0; i < 45; ++i) spectrum[static_cast<std::size_t>(i)] = 330.0 * std::pow(0.8, i);
  for (int i = 45; i < 50; ++i) spectrum[static_cast<std::size_t>(i)] = -0.5 * (i - 44);
  const Matrix H = with_spectrum(spectrum, 21);
  auto J = [&](const Matrix& v, Matrix& out) { out = -H * v; };  // J = -H
  const Matrix start = Rng(3).normal_matrix(200, 1);
  const SpectralEstimate est = lanczos_extremes(J, start, 30);
  INFO("theta_min = " << est.theta_min << ", stiffness = " << est.stiffness << ", products = "
                      << est.products);
  // Ritz values lie inside the spectrum; the extreme ones converge first.
  CHECK(est.theta_min >= -330.0 - 1e-9);
  CHECK_THAT(est.theta_min, WithinRel(-330.0, 1e-6));
  CHECK(est.stiffness >= 330.0 * (1 - 1e-9));
  CHECK(est.stiffness <= 330.0 * 1.01);
  // The top of the spectrum (+2.5, the growth directions) converges later;
  // Ritz values never leave [lambda_min, lambda_max].
  CHECK(est.theta_max <= 2.5 + 1e-9);
  CHECK(est.products <= 30);
}

TEST_CASE("power iteration estimates the spectral radius of a non-symmetric operator",
          "[stiff][spectral]") {
  // A = P diag(l) P^-1 with a well-conditioned P: spectral radius 100 with a
  // gap to the next eigenvalue (50), so 1% agreement is reached in ~10 steps.
  Rng rng(5);
  const Matrix P = Matrix::Identity(40, 40) + 0.1 * rng.normal_matrix(40, 40);
  Vector l = Vector::LinSpaced(40, -50.0, -1.0);
  l[0] = -100.0;
  const Matrix A = P * l.asDiagonal() * P.inverse();
  auto J = [&](const Matrix& v, Matrix& out) { out = A * v; };
  const SpectralEstimate est = power_iteration(J, rng.normal_matrix(40, 1), 60);
  CHECK_THAT(est.spectral_radius, WithinRel(100.0, 0.03));
  CHECK(est.stiffness == est.spectral_radius);
}

TEST_CASE("GMRES solves symmetric indefinite and non-symmetric systems to its tolerance",
          "[stiff][gmres]") {
  Rng rng(6);
  // Symmetric indefinite: I + H with H having eigenvalues in [-3, 50] (as
  // I + gamma h H away from a minimum); and a non-symmetric one.
  std::vector<double> spectrum(60);
  for (int i = 0; i < 60; ++i) spectrum[static_cast<std::size_t>(i)] = -3.0 + 53.0 * i / 59.0;
  const Matrix sym = Matrix::Identity(60, 60) + with_spectrum(spectrum, 4);
  const Matrix nonsym = Matrix::Identity(60, 60) * 4 + rng.normal_matrix(60, 60) / std::sqrt(60.0);
  // Restarted GMRES can stagnate on indefinite systems, so the symmetric
  // one runs unrestarted (restart 60 = n, as the stepper's default restart
  // covers the ~60 distinct Hessian eigenvalues at Example 1.1 size); the
  // non-symmetric one (eigenvalues around 4) exercises restarts of length 5.
  for (const auto& [A, restart] : {std::pair<const Matrix*, int>{&sym, 60}, {&nonsym, 5}}) {
    const Matrix b = rng.normal_matrix(60, 1);
    Matrix x = Matrix::Zero(60, 1);
    auto op = [&](const Matrix& v, Matrix& out) { out = *A * v; };
    const auto res = detail::gmres(op, b, x, 1e-10 * b.norm(), restart, 2000);
    INFO("iterations " << res.iterations << ", residual " << res.residual);
    CHECK(res.converged);
    CHECK((b - *A * x).norm() <= 2e-10 * b.norm());
    const Matrix exact = A->partialPivLu().solve(b);
    // ||x - x*|| <= ||A^-1|| ||r||: cond(A) is < 1e3 here.
    CHECK(relative_error(x, exact) < 1e-6);
  }
}

// ===========================================================================
// The methods' defining properties
// ===========================================================================

TEST_CASE("RKC coefficients: second order, stable on [-beta(s), 0], beta ~ 0.65 s^2",
          "[stiff][rkc]") {
  for (int s : {2, 3, 5, 10, 40, 150, 400}) {
    INFO("s = " << s);
    const RkcCoefficients k(s);
    // The last stage is at t + h (consistency).
    CHECK_THAT(k.c[static_cast<std::size_t>(s)], WithinAbs(1.0, 1e-12));
    // P_s(z) = 1 + z + z^2/2 + O(z^3): second order.
    const double z = 1e-3;
    CHECK_THAT(k.stability_polynomial(z), WithinAbs(1 + z + z * z / 2, 2e-8));
    CHECK_THAT(k.stability_polynomial(-z), WithinAbs(1 - z + z * z / 2, 2e-8));
    // |P_s| <= 1 on the whole stability interval (damped: < 1 inside it),
    // and beta(s) = (1 + w0)/w1 ~ (2/3)(s^2 - 1)(1 - 2 eps/15) with eps = 2/13.
    double worst = 0;
    for (int i = 1; i <= 2000; ++i) worst = std::max(worst, std::abs(k.stability_polynomial(-k.beta * i / 2000.0)));
    CHECK(worst <= 1.0 + 1e-9);
    CHECK_THAT(k.beta, WithinRel(2.0 / 3.0 * (s * s - 1) * (1 - 2.0 / 13.0 * 2.0 / 15.0), 0.05));
    // Beyond the interval T_s(w0 + w1 z) grows like a Chebyshev polynomial
    // outside [-1, 1]: at twice the boundary it is far past 1.
    CHECK(std::abs(k.stability_polynomial(-2 * k.beta)) > 1.0);
  }
  CHECK(RkcStepper<FactorFlow>::stages_for(0.0, 400) == 2);
  CHECK(RkcStepper<FactorFlow>::stages_for(1000.0, 400) == 40);  // beta(39) < 1000 <= beta(40)
  CHECK(RkcCoefficients(39).beta < 1000.0);
  CHECK(RkcCoefficients(40).beta >= 1000.0);
}

namespace {

/// y' = lambda y on a 1 x 1 state, with its exact Jacobian.
struct Linear1 {
  double lambda;
  void operator()(const Matrix& y, Matrix& dy, double) const { dy = lambda * y; }
  void jacobian_vector(const Matrix&, const Matrix& v, Matrix& out) const { out = lambda * v; }
};

}  // namespace

TEST_CASE("ROS34PW2 is L-stable and third order on y' = lambda y", "[stiff][rosenbrock]") {
  IntegrateOptions o = stiff_options(StepperKind::rosenbrock, 1e-12, 1e-14);
  auto step = [&](double z) {
    Linear1 sys{-1.0};
    RosenbrockStepper<Linear1> st(sys, o);
    Matrix y = Matrix::Constant(1, 1, 1.0);
    auto rhs = [&](const Matrix& x, Matrix& dx, double t) { sys(x, dx, t); };
    REQUIRE(st.do_step(rhs, y, 0.0, -z));
    return y(0, 0);
  };
  // R(z) -> 0 as z -> -infinity (L-stability): R(z) = O(1/z).
  CHECK(std::abs(step(-1e8)) < 1e-6);
  CHECK(std::abs(step(-1e4)) < 1e-2);
  // |R| <= 1 along the negative axis (A-stability on the real line).
  for (double z = -0.01; z > -1e6; z *= 1.7) CHECK(std::abs(step(z)) <= 1.0);
  // R(z) - e^z = C z^4 + O(z^5) for a third-order method: halving z divides
  // the defect by 16 (log2 in [3.8, 4.2]; the defects, ~1e-9 and ~6e-11,
  // are far above rounding).
  const double d1 = step(-2e-2) - std::exp(-2e-2), d2 = step(-1e-2) - std::exp(-1e-2);
  INFO("defects " << d1 << ", " << d2);
  CHECK(std::log2(std::abs(d1 / d2)) >= 3.8);
  CHECK(std::log2(std::abs(d1 / d2)) <= 4.2);
}

// ===========================================================================
// The closed form: accuracy at t = 0.5, 2, 10
// ===========================================================================

namespace {

struct Variant {
  const char* name;
  StepperKind kind;
  std::int64_t dense_max_size;
};

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"rkc", StepperKind::rkc, 200},
      {"rosenbrock (dense Jacobian)", StepperKind::rosenbrock, 1000000},
      {"rosenbrock (GMRES)", StepperKind::rosenbrock, 0},
      {"auto", StepperKind::automatic, 200},
  };
  return v;
}

}  // namespace

TEST_CASE("stiff steppers follow the full-observation closed form to a tolerance set by rtol",
          "[stiff][closed_form]") {
  // The step control keeps each local error below rtol (relative, maximum
  // norm). The global error is the sum of the local ones carried along by
  // the flow: contracting except during the growth phase of the small start,
  // which amplifies them by up to e^{2 * 10 * lambda_max} relative to the
  // state it grows from, but only relative to a state of size 0.1^2; the
  // measured factor error / rtol stays below ~100 for every stepper. We
  // allow 1000 * rtol, the factor the dopri5 test allows, and check that the
  // error follows the tolerance: 1000x smaller rtol, at least 30x smaller
  // error (orders 2 and 3 give error ~ rtol to first order).
  const std::vector<double> times = {0.0, 0.5, 2.0, 10.0};
  for (const auto& setup : closed_form_setups()) {
    const oracle::FullObservationFlow exact(setup.Z, setup.U0);
    for (const Variant& v : variants()) {
      for (bool gram : {false, true}) {
        INFO(setup.name << ", " << v.name << (gram ? ", Gram flow" : ", factor flow"));
        std::vector<double> worst;
        for (double rtol : {1e-6, 1e-9}) {
          IntegrateOptions o = stiff_options(v.kind, rtol, rtol * 1e-3);
          o.stiff.dense_max_size = v.dense_max_size;
          std::vector<Matrix> X;
          Summary summary;
          if (gram) {
            GramFlow flow(full_observation_loss(setup.Z));
            auto r = integrate_observed(flow, Matrix(setup.U0 * setup.U0.transpose()), times, o);
            X = r.states;
            summary = r.summary;
          } else {
            FactorFlow flow(full_observation_loss(setup.Z));
            auto r = integrate_observed(flow, setup.U0, times, o);
            for (const Matrix& U : r.states) X.push_back(U * U.transpose());
            summary = r.summary;
          }
          INFO("rtol = " << rtol << ": " << summary.message << " (" << summary.stepper_used << ")");
          REQUIRE(summary.termination == Termination::completed);
          REQUIRE(X.size() == times.size());
          double w = 0;
          for (std::size_t j = 1; j < times.size(); ++j) {
            const double e = relative_error(X[j], exact.gram(times[j]));
            INFO("t = " << times[j] << ": relative error " << e);
            CHECK(e < 1000 * rtol);
            w = std::max(w, e);
          }
          worst.push_back(w);
          if (v.kind == StepperKind::automatic) {
            // Not stiff (lambda ~ 1, T = 10): auto picks dopri5 and says why.
            CHECK(summary.stepper_used == "dopri5");
            CHECK(summary.stepper_choice.find("not stiff") != std::string::npos);
          } else {
            CHECK(summary.stepper_used.rfind(to_string(v.kind), 0) == 0);
          }
          if (v.kind == StepperKind::rosenbrock) {
            CHECK(summary.stepper_used == v.name);
            CHECK(summary.stiff.linear_solves > 0);
          }
          if (v.kind == StepperKind::rkc) CHECK(summary.stiff.spectral_estimates > 0);
        }
        INFO("worst errors " << worst[0] << " (rtol 1e-6), " << worst[1] << " (rtol 1e-9)");
        CHECK(worst[1] < worst[0] / 30);
      }
    }
  }
}

// ===========================================================================
// Convergence orders at fixed step
// ===========================================================================

namespace {

/// Relative error of X(T) after T/h fixed steps of `step(rhs, U, t, h)`.
template <class Step>
double fixed_error(const oracle::ClosedFormSetup& setup, double T, double h, Step step) {
  FactorFlow flow(full_observation_loss(setup.Z));
  auto rhs = [&](const Matrix& x, Matrix& dx, double t) { flow(x, dx, t); };
  Matrix U = setup.U0;
  const auto n = static_cast<long>(std::llround(T / h));
  for (long k = 0; k < n; ++k) step(flow, rhs, U, static_cast<double>(k) * h, h);
  return relative_error(Matrix(U * U.transpose()), oracle::FullObservationFlow(setup.Z, setup.U0).gram(T));
}

template <class Step>
std::vector<double> orders(const oracle::ClosedFormSetup& setup, double T, const std::vector<double>& steps, Step step) {
  std::vector<double> e, q;
  for (double h : steps) e.push_back(fixed_error(setup, T, h, step));
  for (std::size_t k = 1; k < e.size(); ++k) {
    UNSCOPED_INFO("h = " << steps[k - 1] << " -> " << steps[k] << ": error " << e[k - 1] << " -> " << e[k]);
    q.push_back(std::log2(e[k - 1] / e[k]));
  }
  return q;
}

/// The zero matrix in place of the Jacobian: ROS34PW2 then is an explicit
/// 4-stage Runge-Kutta method, still of order 3 because it is a W-method.
struct ZeroJacobian {
  FactorFlow* flow;
  void operator()(const Matrix& x, Matrix& dx, double t) const { (*flow)(x, dx, t); }
  void jacobian_vector(const Matrix&, const Matrix& v, Matrix& out) const { out.setZero(v.rows(), v.cols()); }
};

}  // namespace

TEST_CASE("RKC and ROS34PW2 converge with orders 2 and 3 to the closed form at fixed step",
          "[stiff][closed_form][order]") {
  // log2(e(h)/e(h/2)) = q + O(h). The steps are in the asymptotic regime:
  // measured orders are 1.98-2.00 (RKC) and 3.00-3.09 (ROS34PW2), moving by
  // < 0.1 between the two halvings, and the smallest errors (>= 1e-8) are
  // far above the oracle's ~1e-14 and the GMRES residual (tolerance
  // 0.02 x 1e-13 per solve), so a band of q -0.2 / +0.4 tests the order
  // itself and rejects the neighbouring orders. RKC runs with a fixed number
  // of stages (the adaptive choice would change the method as h halves).
  const double T = 2.0;
  IntegrateOptions o = stiff_options(StepperKind::rosenbrock, 1e-13, 1e-15);
  for (const auto& setup : closed_form_setups()) {
    INFO(setup.name);
    for (int s : {3, 12}) {
      INFO("RKC, " << s << " stages");
      for (double q : orders(setup, T, {1.0 / 16, 1.0 / 32, 1.0 / 64}, [&](FactorFlow& f, auto& rhs, Matrix& U, double t, double h) {
             RkcStepper<FactorFlow> st(f, o);
             st.do_step(rhs, U, t, h, s);
           })) {
        CHECK(q >= 1.8);
        CHECK(q <= 2.4);
      }
    }
    for (std::int64_t dense_max : {std::int64_t{1000000}, std::int64_t{0}}) {
      // The dense variant with a fresh Jacobian every step (the method
      // itself; a Jacobian kept for k steps adds a W - J = O(k h) term that
      // shows up as a pre-asymptotic order between 3 and 4); the GMRES one
      // always applies the exact Jacobian at y_n.
      INFO("ROS34PW2, " << (dense_max ? "dense Jacobian" : "GMRES"));
      IntegrateOptions od = o;
      od.stiff.dense_max_size = dense_max;
      od.stiff.jacobian_max_age = 1;
      std::unique_ptr<RosenbrockStepper<FactorFlow>> st;
      for (double q : orders(setup, T, {1.0 / 16, 1.0 / 32, 1.0 / 64}, [&](FactorFlow& f, auto& rhs, Matrix& U, double t, double h) {
             if (t == 0) st = std::make_unique<RosenbrockStepper<FactorFlow>>(f, od);
             REQUIRE(st->do_step(rhs, U, t, h));
           })) {
        CHECK(q >= 2.8);
        CHECK(q <= 3.4);
      }
    }
    {
      INFO("ROS34PW2 with W = 0 (a W-method keeps its order with any W)");
      for (double q : orders(setup, T, {1.0 / 8, 1.0 / 16, 1.0 / 32}, [&](FactorFlow& f, auto& rhs, Matrix& U, double t, double h) {
             ZeroJacobian z{&f};
             RosenbrockStepper<ZeroJacobian> st(z, o);
             REQUIRE(st.do_step(rhs, U, t, h));
           })) {
        CHECK(q >= 2.8);
        CHECK(q <= 3.4);
      }
    }
  }
}

// ===========================================================================
// Stiff: far fewer evaluations than dopri5 at equal accuracy
// ===========================================================================

TEST_CASE("on stiff slow tails the stiff steppers need 10x fewer evaluations than dopri5",
          "[stiff][efficiency]") {
  // Full observation (closed form known) with Z of eigenvalues 100 and 50 in
  // d = 8 and a full-rank start of norm 1, to T = 1000. After the growth
  // phase (t ~ 0.1) the six surplus eigenvalues of X decay like
  // x' = -2x^2, x ~ 1/(2t): the solution keeps moving, slowly, while the
  // Hessian keeps eigenvalues of ~100-300. dopri5 is held to h ~ 3.3 / 300
  // for the whole tail (~6e4 steps, measured ~4.6e5 evaluations); steps of
  // the stiff methods grow with t. Evaluations = right-hand sides +
  // Jacobian-vector products (each about one pass over the operator); the
  // counts are deterministic. rtol = 1e-6. Measured evaluations: dopri5
  // 464,797; rkc 16,400 (28x fewer); rosenbrock dense 10,481 (44x), GMRES
  // 20,967 (22x); auto 605 (768x; 3,244 when its stiff method was
  // rosenbrock): 10x holds with a margin of 2 or more.
  // Errors against the closed form: dopri5 6.6e-10, the others 1.1e-11 to
  // 1.6e-10, so "equal accuracy" is checked as "within 2x of dopri5's
  // error, or below 1e-9 (1000x below rtol)".
  const Matrix Z = planted_orthogonal(8, {100.0, 50.0}, 11);
  const Matrix U0 = random_factor(8, 8, 8, 1.0, 12);
  const double T = 1000.0;
  const Matrix X_T = oracle::FullObservationFlow(Z, U0).gram(T);
  FactorFlow flow(full_observation_loss(Z));
  auto measure = [&](StepperKind kind, std::int64_t dense_max) {
    IntegrateOptions o = stiff_options(kind, 1e-6, 1e-10);
    o.stiff.dense_max_size = dense_max;
    auto r = integrate_observed(flow, U0, {0.0, T}, o);
    REQUIRE(r.summary.ok());
    const Matrix& U = r.states.back();
    return std::tuple<double, std::uint64_t, std::string>(relative_error(Matrix(U * U.transpose()), X_T),
                                                          r.summary.last.rhs + r.summary.last.jvp,
                                                          r.summary.stepper_used);
  };
  const auto [e_dopri, n_dopri, u_dopri] = measure(StepperKind::dopri5, 200);
  INFO("dopri5: error " << e_dopri << ", evaluations " << n_dopri);
  CHECK(e_dopri < 1e-6);
  for (const auto& [kind, dense_max] : std::vector<std::pair<StepperKind, std::int64_t>>{
           {StepperKind::rkc, 200}, {StepperKind::rosenbrock, 200}, {StepperKind::rosenbrock, 0},
           {StepperKind::automatic, 200}}) {
    const auto [e, n, used] = measure(kind, dense_max);
    INFO(used << ": error " << e << ", evaluations " << n);
    CHECK(e < std::max(2 * e_dopri, 1e-9));
    CHECK(10 * n <= n_dopri);
    if (kind == StepperKind::automatic) CHECK(used == "dopri5 + bdf (dense Jacobian)");
  }
}

TEST_CASE("auto runs the fast transient of Example 1.1 with dopri5 and its stiff tail implicitly",
          "[stiff][efficiency][auto]") {
  // Example 1.1 (d = 30, m = 240, c = 1/4), rank-2 start of norm 1, on the
  // exact reduced state L (30 x 2, X = L L^T), to T = 100, rtol 1e-8. The
  // first ~0.5 time units are a fast transient (dopri5 is accuracy-bound);
  // then the flow has converged and lambda_max(H) ~ 330 holds dopri5 at
  // ~100 steps per unit time. Measured: dopri5 77,101 evaluations with
  // relative error 6.1e-10 at T; auto 777 (docs/steppers.md; 1,937 when its
  // stiff method was rosenbrock): it switches to bdf and takes few steps
  // from there, where dopri5 accumulates the errors of ~10^4. Errors
  // against dopri5 at rtol 1e-12; both must be below rtol, auto's below
  // dopri5's.
  const SensingLoss loss = example_1_1_loss();
  FactorFlow flow(loss);
  const Matrix L0 = reduce(random_factor(30, 30, 2, 1.0, 3));
  const double T = 100.0;
  const std::vector<double> times = {0.0, T};
  const auto ref = integrate_observed(flow, L0, times, stiff_options(StepperKind::dopri5, 1e-12, 1e-16));
  REQUIRE(ref.summary.ok());
  const Matrix X_ref = ref.states.back() * ref.states.back().transpose();
  const auto dopri = integrate_observed(flow, L0, times, stiff_options(StepperKind::dopri5, 1e-8, 1e-12));
  const auto automatic = integrate_observed(flow, L0, times, stiff_options(StepperKind::automatic, 1e-8, 1e-12));
  REQUIRE(dopri.summary.ok());
  REQUIRE(automatic.summary.ok());
  const auto n_dopri = dopri.summary.last.rhs;
  const auto n_auto = automatic.summary.last.rhs + automatic.summary.last.jvp;
  const double e_dopri = relative_error(Matrix(dopri.states.back() * dopri.states.back().transpose()), X_ref);
  const double e_auto = relative_error(Matrix(automatic.states.back() * automatic.states.back().transpose()), X_ref);
  INFO("dopri5: " << n_dopri << " evaluations, error " << e_dopri << "; auto: " << n_auto
                  << " evaluations, error " << e_auto << "; " << automatic.summary.stepper_choice);
  CHECK(e_dopri < 1e-8);
  CHECK(e_auto < 1e-8);
  CHECK(e_auto < e_dopri);
  CHECK(10 * n_auto <= n_dopri);
  CHECK(automatic.summary.stepper_used == "dopri5 + bdf (dense Jacobian)");
  CHECK(automatic.summary.stepper_choice.find("dopri5 -> bdf") != std::string::npos);
}

TEST_CASE("auto survives a huge start: its first step is at most 1/rho",
          "[stiff][auto][divergence]") {
  // Example 1.1 from a rank-30 start of norm 1e3: rho(J) ~ 1e8 at t0, so the
  // default first step (1e-3) has h rho ~ 1e5. Before the cap, dopri5 accepted
  // such a step (odeint's error norm scales with h |x'|, which blows up with
  // it) and the run ended "diverged" at step 1. The exact flow only shrinks U
  // here (the loss decreases), so the state norm must stay <= 1e3 and the
  // result must match dopri5 from a tiny first step (reference at rtol 1e-10)
  // to about the tolerance: we allow 1e-5 relative in X at rtol 1e-8, the
  // global error of ~10^3 accepted steps.
  const SensingLoss loss = example_1_1_loss();
  FactorFlow flow(loss);
  const Matrix U0 = random_factor(30, 30, 30, 1e3, 5);
  const std::vector<double> times = {0.0, 1e-5};
  IntegrateOptions ref_options = stiff_options(StepperKind::dopri5, 1e-10, 1e-12);
  ref_options.step = 1e-12;
  const auto ref = integrate_observed(flow, U0, times, ref_options);
  REQUIRE(ref.summary.ok());
  // In flow time: the cap is about flow-time steps (auto would choose log
  // time from this start, tests/test_log_time.cpp).
  IntegrateOptions auto_options = stiff_options(StepperKind::automatic, 1e-8, 1e-12);
  auto_options.time = TimeVariable::flow;
  const auto automatic = integrate_observed(flow, U0, times, auto_options);
  INFO(automatic.summary.message << "; " << automatic.summary.stepper_choice);
  REQUIRE(automatic.summary.ok());
  CHECK(automatic.summary.stepper_choice.find("first step 1/rho") != std::string::npos);
  CHECK(automatic.states.back().norm() <= U0.norm());
  const Matrix X = automatic.states.back() * automatic.states.back().transpose();
  const Matrix X_ref = ref.states.back() * ref.states.back().transpose();
  CHECK(relative_error(X, X_ref) < 1e-5);
}

// ===========================================================================
// Options and names
// ===========================================================================

TEST_CASE("stiff stepper names and options are validated with the field named",
          "[stiff][options]") {
  CHECK(stepper_from_string("rkc") == StepperKind::rkc);
  CHECK(stepper_from_string("rosenbrock") == StepperKind::rosenbrock);
  CHECK(stepper_from_string("auto") == StepperKind::automatic);
  CHECK(to_string(StepperKind::automatic) == "auto");
  CHECK(is_adaptive(StepperKind::rkc));
  CHECK(is_adaptive(StepperKind::rosenbrock));
  CHECK(is_adaptive(StepperKind::automatic));
  CHECK(order(StepperKind::rkc) == 2);
  CHECK(order(StepperKind::rosenbrock) == 3);
  IntegrateOptions o;
  CHECK(o.validate().empty());
  o.stiff.krylov_tolerance = 2.0;
  CHECK(o.validate().find("stiff.krylov_tolerance") != std::string::npos);
  o = IntegrateOptions{};
  o.stiff.rkc_max_stages = 1;
  CHECK(o.validate().find("stiff.rkc_max_stages") != std::string::npos);
  o = IntegrateOptions{};
  o.stiff.dense_max_size = -1;
  CHECK(o.validate().find("stiff.dense_max_size") != std::string::npos);
}

TEST_CASE("run configs accept the stiff steppers by name with the adaptive fields",
          "[stiff][options][config]") {
  nlohmann::json config = {
      {"seed", 2024},
      {"dim", 30},
      {"operator", {{"type", "gaussian"}, {"measurements", 240}, {"scale", "unit"}}},
      {"planted", {{"type", "trace_one"}, {"rank", 2}}},
      {"loss", {{"convention", "paper000"}, {"learning_rate", 1e-4}}},
      {"init", {{"type", "random"}, {"rank", 2}, {"width", 30}, {"norm", 1.0}}},
      {"times", {{"type", "gd_iterations"}, {"spacing", "log"}, {"first", 1}, {"last", 100000}, {"points", 61}}},
  };
  for (const auto& [name, kind] : std::vector<std::pair<std::string, StepperKind>>{
           {"rkc", StepperKind::rkc},
           {"rosenbrock", StepperKind::rosenbrock},
           {"bdf", StepperKind::bdf},
           {"auto", StepperKind::automatic}}) {
    INFO(name);
    config["stepper"] = {{"type", name}, {"rtol", 1e-7}, {"atol", 1e-11}};
    const RunConfig rc = parse_config(config, ".");
    CHECK(rc.stepper.options.stepper == kind);
    CHECK(rc.stepper.options.rtol == 1e-7);
    CHECK(rc.stepper.options.atol == 1e-11);
  }
  // The stiff options round-trip, and a bad one is named.
  config["stepper"] = {{"type", "bdf"}, {"rtol", 1e-7}, {"stiff", {{"dense_max_size", 0}}}};
  const RunConfig rc = parse_config(config, ".");
  CHECK(rc.stepper.options.stiff.dense_max_size == 0);
  CHECK(to_json(rc).at("stepper").at("stiff").at("dense_max_size") == 0);
  config["stepper"] = {{"type", "bdf"}, {"stiff", {{"dense_max_size", -3}}}};
  try {
    parse_config(config, ".");
    FAIL("expected an error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("dense_max_size") != std::string::npos);
  }
  // bdf's GMRES preconditioner (test_preconditioner.cpp): by name, and a bad
  // name gives the field, the value and the choices.
  config["stepper"] = {{"type", "bdf"}, {"stiff", {{"preconditioner", "woodbury"}}}};
  CHECK(parse_config(config, ".").stepper.options.stiff.preconditioner == Preconditioner::woodbury);
  CHECK(to_json(parse_config(config, ".")).at("stepper").at("stiff").at("preconditioner") == "woodbury");
  config["stepper"] = {{"type", "bdf"}, {"stiff", {{"preconditioner", "jacobi"}}}};
  try {
    parse_config(config, ".");
    FAIL("expected an error");
  } catch (const std::exception& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("stepper.stiff.preconditioner") != std::string::npos);
    CHECK(m.find("jacobi") != std::string::npos);
    CHECK(m.find("woodbury") != std::string::npos);
  }
}

TEST_CASE("the manifest records what auto picked, why, and the stiff counters", "[stiff][options]") {
  FactorFlow flow(example_1_1_loss());
  Matrix L = reduce(random_factor(30, 30, 2, 1.0, 3));
  IntegrateOptions o = stiff_options(StepperKind::automatic, 1e-6, 1e-10);
  const Summary s = integrate(flow, L, {0.0, 20.0}, o, Watch{});
  REQUIRE(s.ok());
  const nlohmann::json j = to_json(s);
  CHECK(j.at("stepper_used") == "dopri5 + bdf (dense Jacobian)");
  CHECK(j.at("stepper_choice").get<std::string>().find("dopri5 -> bdf") != std::string::npos);
  CHECK(j.at("jacobian_vector_products").get<std::uint64_t>() == s.last.jvp);
  CHECK(j.at("stiff").at("jacobians").get<std::uint64_t>() >= 1);
  CHECK(j.at("stiff").at("spectral_estimates").get<std::uint64_t>() >= 1);
  // A plain dopri5 run has neither the choice nor the stiff counters.
  L = reduce(random_factor(30, 30, 2, 1.0, 3));
  o.stepper = StepperKind::dopri5;
  const nlohmann::json k = to_json(integrate(flow, L, {0.0, 0.1}, o, Watch{}));
  CHECK(k.at("stepper_used") == "dopri5");
  CHECK_FALSE(k.contains("stepper_choice"));
  CHECK_FALSE(k.contains("stiff"));
}

// ===========================================================================
// The table of docs/steppers.md (hidden: run it by its tag)
// ===========================================================================

TEST_CASE("table: Example 1.1 to t = 2000, dopri5 vs rkc vs rosenbrock vs bdf vs auto", "[.stiff_table]") {
  // The table of docs/steppers.md. Not a test: it prints measurements.
  const SensingLoss loss = example_1_1_loss();
  FactorFlow flow(loss);
  const double T = 2000.0;
  const std::vector<double> times = {0.0, T};
  std::printf("Example 1.1 (d = 30, m = 240, c = 1/4), rank-2 start, to t = %g; rtol 1e-8, atol 1e-12\n", T);
  std::printf(
      "| norm | state | stepper | first_step | steps | rhs | jvp | prec | dense J | wall s | rel. error of X(T) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (double norm : {1.0, 1e3}) {
    const Matrix U0 = random_factor(30, 30, 2, norm, 3);
    const Matrix L0 = reduce(U0);
    const double first = norm > 1 ? 1e-9 : 1e-3;
    // Reference: the reduced flow (same X(t), DESIGN.md) with dopri5 at rtol 1e-12.
    IntegrateOptions ref_o = stiff_options(StepperKind::dopri5, 1e-12, 1e-16);
    ref_o.step = first;
    const auto ref = integrate_observed(flow, L0, times, ref_o);
    const Matrix X_ref = ref.states.back() * ref.states.back().transpose();
    std::printf("| %g | 30x2 | reference: dopri5, rtol 1e-12 | %g | %llu | %llu | 0 | 0 | 0 | %.2f | - |\n", norm, first,
                static_cast<unsigned long long>(ref.summary.last.steps),
                static_cast<unsigned long long>(ref.summary.last.rhs), ref.summary.wall_seconds);
    std::fflush(stdout);
    for (bool reduced : {false, true}) {
      struct Row {
        StepperKind kind;
        double step;
        TimeVariable time = TimeVariable::automatic;  // the default: auto chooses, the others flow time
      };
      std::vector<Row> rows = {{StepperKind::dopri5, first},    {StepperKind::rkc, first},
                               {StepperKind::rosenbrock, first}, {StepperKind::bdf, first},
                               {StepperKind::bdf, first, TimeVariable::log}, {StepperKind::automatic, first}};
      if (norm > 1) rows.insert(rows.begin(), {StepperKind::dopri5, 1e-3});
      for (const auto& [kind, step, time] : rows) {
        IntegrateOptions o = stiff_options(kind, 1e-8, 1e-12);
        o.step = step;
        o.time = time;
        const auto r = integrate_observed(flow, reduced ? L0 : U0, times, o);
        const Matrix& U = r.states.back();
        const double e = relative_error(Matrix(U * U.transpose()), X_ref);
        std::string name = to_string(kind);
        if (kind != StepperKind::dopri5) {
          // The preconditioner's reasoning is long; the prec column says what it did.
          std::string used = r.summary.stepper_used;
          const auto why = used.find(", auto: ");
          if (why != std::string::npos) used = used.substr(0, why) + ")";
          name += ": " + used;
        }
        if (time == TimeVariable::log) name += ", log time";
        char err[32];
        std::snprintf(err, sizeof err, "%.1e", e);
        std::printf("| %g | %s | %s | %g | %llu | %llu | %llu | %llu | %llu | %.2f | %s |\n", norm,
                    reduced ? "30x2" : "30x30", name.c_str(), step,
                    static_cast<unsigned long long>(r.summary.last.steps),
                    static_cast<unsigned long long>(r.summary.last.rhs),
                    static_cast<unsigned long long>(r.summary.last.jvp),
                    static_cast<unsigned long long>(r.summary.stiff.preconditioner_applications),
                    static_cast<unsigned long long>(r.summary.stiff.jacobians), r.summary.wall_seconds,
                    r.summary.ok() ? err : ("**" + to_string(r.summary.termination) + "** at t = " + std::to_string(r.summary.last.t)).c_str());
        if (kind == StepperKind::automatic) std::printf("<!-- auto: %s -->\n", r.summary.stepper_choice.c_str());
        std::fflush(stdout);
      }
    }
  }
}
