#pragma once
// Noisy data: b = A(X♮) + sigma * eps with eps ~ N(0, I_m) from Rng(seed),
// drawn in measurement order, independent of the operator's own seed.
//
// Training and test error then mean different things (docs/noise.md):
//  - the training error ||A(UU^T) - b||^2 equals ||sigma eps||^2 (about
//    sigma^2 m) at the truth UU^T = X♮, so it falls below that noise floor
//    only by fitting the noise (overfitting; possible whenever the set
//    {U : A(UU^T) = b} is not empty, e.g. an overparameterized factor);
//  - the test error ||UU^T - X♮||_F^2 is no longer driven to 0 by any
//    estimator: its floor is the error of the best fit, of order
//    sigma^2 k / (s^2 m) for an operator with E[A*A] ~ s^2 m I on the
//    k-dimensional set of rank-r PSD matrices (k = r d - r(r-1)/2).
#include <cstdint>
#include <memory>

#include "flowsense/problem/problem.hpp"

namespace flowsense {

/// eps ~ N(0, I_m) from Rng(seed), entry 0 first.
Vector gaussian_noise(Index m, std::uint64_t seed);

/// b += sigma * gaussian_noise(m, seed), recording sigma and seed in the
/// problem. Throws std::invalid_argument if sigma is negative or not finite,
/// or if the problem already holds noise (noise is added once, so that
/// noise_level always describes b).
void add_noise(Problem& problem, double sigma, std::uint64_t seed);

/// Problem::noiseless(op, planted), then add_noise(sigma, seed).
Problem noisy_problem(std::shared_ptr<const SensingOperator> op, Matrix planted, double sigma,
                      std::uint64_t seed);

/// ||b - A(X♮)||^2 = sigma^2 ||eps||^2, regenerated from the recorded seed in
/// O(m) (no application of A): the training error of the truth itself, the
/// floor below which a fit is fitting noise. 0 for noiseless problems.
double noise_energy(const Problem& problem);

}  // namespace flowsense
