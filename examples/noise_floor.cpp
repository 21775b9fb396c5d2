// Training error and test error on noisy data (docs/noise.md): where each
// one bottoms out, measured on the flow and predicted by linearization.
//
//   noise_floor [--d=12] [--m=40] [--rank=2] [--t-end=2000] [--seed=1]
//
// Data b = A(X♮) + sigma eps (problem/noise.hpp), A Gaussian with s = 1/sqrt(m),
// X♮ = W W^T of rank r. For each sigma the program runs the factor flow
// (c = 1/2, dopri5, rtol 1e-10) to t-end twice:
//  - right rank: U is d x r, started at W (the truth itself);
//  - overparameterized: U is d x d, started small (norm 1e-3), also
//    reporting the observation time (120 log-spaced) of its lowest test error;
// and prints ||sigma eps||^2 (the training error of the truth), the final
// training and test errors, and the first-order predictions for the
// right-rank fit: with J the Jacobian of U -> A(UU^T) at W (m x dr, rank
// k = dr - r(r-1)/2), the fit absorbs the part of the noise in range(J):
//   training error ~ ||(I - P_J) sigma eps||^2  (about sigma^2 (m - k)),
//   test error     ~ ||W D^T + D W^T||_F^2 with D = J^+ sigma eps,
// both up to O(sigma^3).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/noise.hpp"
#include "flowsense/problem/planted.hpp"

using namespace flowsense;

namespace {

struct Fit {
  double training, test;
  Summary summary;
  // The observation time with the lowest test error, and the errors there.
  double best_t = 0, best_test = INFINITY, training_at_best = 0;
};

Fit run_flow(const Problem& problem, Matrix U, double t_end) {
  SensingLoss loss(problem, loss_constant::paper003);
  FactorFlow flow(loss);
  IntegrateOptions options;
  options.stepper = StepperKind::dopri5;
  options.rtol = 1e-10;
  options.atol = 1e-14;
  Fit fit{};
  fit.best_test = INFINITY;
  Watch watch;
  watch.observe = [&](const Matrix& state, const StepInfo& info) {
    const double test = (state * state.transpose() - problem.planted).squaredNorm();
    if (test < fit.best_test) {
      fit.best_test = test;
      fit.best_t = info.t;
      fit.training_at_best = loss.training_error(state);
    }
  };
  fit.summary = integrate(flow, U, log_times(1e-2, t_end, 120), options, watch);
  fit.training = loss.training_error(U);
  fit.test = (U * U.transpose() - problem.planted).squaredNorm();
  return fit;
}

}  // namespace

int main(int argc, char** argv) {
  Index d = 12, m = 40, r = 2;
  double t_end = 2000;
  std::uint64_t seed = 1;
  for (int k = 1; k < argc; ++k) {
    const std::string arg = argv[k];
    const auto eq = arg.find('=');
    const std::string key = arg.substr(0, eq), v = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "--d") d = std::stol(v);
    else if (key == "--m") m = std::stol(v);
    else if (key == "--rank") r = std::stol(v);
    else if (key == "--t-end") t_end = std::stod(v);
    else if (key == "--seed") seed = std::stoull(v);
    else {
      std::cerr << "noise_floor: unknown argument '" << arg << "'; expected --d=, --m=, --rank=, --t-end=, --seed=\n";
      return 2;
    }
  }
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, Rng::derive_seed(seed, 1));
  const Matrix W = Rng(Rng::derive_seed(seed, 2)).normal_matrix(d, r) / std::sqrt(double(d));
  const Matrix X = W * W.transpose();
  const Index k = d * r - r * (r - 1) / 2;

  // J: column (a, b) is A(W E_ab^T + E_ab W^T), E_ab the d x r unit matrix.
  Matrix J(m, d * r);
  for (Index b = 0; b < r; ++b)
    for (Index a = 0; a < d; ++a) {
      Matrix E = Matrix::Zero(d, r);
      E(a, b) = 1.0;
      const Matrix S = W * E.transpose() + E * W.transpose();
      J.col(b * d + a) = (*op)(S);
    }
  Eigen::CompleteOrthogonalDecomposition<Matrix> cod(J);
  cod.setThreshold(1e-10);

  std::printf("d = %ld, m = %ld, rank r = %ld, k = dr - r(r-1)/2 = %ld (rank of J: %ld), D = d(d+1)/2 = %ld\n",
              static_cast<long>(d), static_cast<long>(m), static_cast<long>(r), static_cast<long>(k),
              static_cast<long>(cod.rank()), static_cast<long>(d * (d + 1) / 2));
  std::printf("flow to t = %g (dopri5, rtol 1e-10), c = 1/2; errors are squared norms\n\n", t_end);
  std::printf("| sigma | noise floor ‖σε‖² | σ²(m − k) | rank-%ld fit: training | predicted | test | predicted | "
              "p = d at t-end: training | test | p = d at its best test error: t | training | test |\n",
              static_cast<long>(r));
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (double sigma : {1e-3, 1e-2, 1e-1}) {
    const Problem problem = noisy_problem(op, X, sigma, Rng::derive_seed(seed, 3));
    const Vector noise = problem.b - (*op)(X);  // sigma eps
    const Vector D = cod.solve(noise);
    const Matrix Dm = Eigen::Map<const Matrix>(D.data(), d, r);
    const double predicted_training = (noise - J * D).squaredNorm();
    const double predicted_test = (W * Dm.transpose() + Dm * W.transpose()).squaredNorm();
    const Fit right = run_flow(problem, W, t_end);
    const Fit over = run_flow(problem, random_factor(d, d, d, 1e-3, Rng::derive_seed(seed, 4)), t_end);
    std::printf("| %g | %.4g | %.4g | %.4g | %.4g | %.4g | %.4g | %.3g | %.4g | %.3g | %.3g | %.4g |\n", sigma,
                noise_energy(problem), sigma * sigma * double(m - k), right.training, predicted_training, right.test,
                predicted_test, over.training, over.test, over.best_t, over.training_at_best, over.best_test);
    if (!right.summary.ok() || !over.summary.ok())
      std::printf("(a run ended early: %s / %s)\n", right.summary.message.c_str(), over.summary.message.c_str());
  }
  return 0;
}
