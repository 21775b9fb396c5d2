#include "flowsense/problem/noise.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "flowsense/core/random.hpp"

namespace flowsense {

Vector gaussian_noise(Index m, std::uint64_t seed) {
  if (m < 0) throw std::invalid_argument("gaussian_noise: expected m >= 0, got " + std::to_string(m));
  Rng rng(seed);
  Vector eps(m);
  for (Index i = 0; i < m; ++i) eps[i] = rng.normal();
  return eps;
}

void add_noise(Problem& problem, double sigma, std::uint64_t seed) {
  if (!(sigma >= 0) || !std::isfinite(sigma))
    throw std::invalid_argument("add_noise: expected a finite noise level sigma >= 0, got " + std::to_string(sigma));
  if (problem.noise_seed)
    throw std::invalid_argument("add_noise: the problem already holds noise (sigma = " +
                                std::to_string(problem.noise_level) + ", seed = " +
                                std::to_string(*problem.noise_seed) + ")");
  if (problem.b.size() != problem.measurements())
    throw std::invalid_argument("add_noise: expected b of length m = " + std::to_string(problem.measurements()) +
                                ", got " + std::to_string(problem.b.size()));
  problem.b += sigma * gaussian_noise(problem.b.size(), seed);
  problem.noise_level = sigma;
  problem.noise_seed = seed;
}

Problem noisy_problem(std::shared_ptr<const SensingOperator> op, Matrix planted, double sigma,
                      std::uint64_t seed) {
  Problem p = Problem::noiseless(std::move(op), std::move(planted));
  add_noise(p, sigma, seed);
  return p;
}

double noise_energy(const Problem& problem) {
  if (!problem.noise_seed || problem.noise_level == 0.0) return 0.0;
  return problem.noise_level * problem.noise_level *
         gaussian_noise(problem.measurements(), *problem.noise_seed).squaredNorm();
}

}  // namespace flowsense
