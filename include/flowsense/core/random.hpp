#pragma once
// Seeded randomness that gives the same numbers on every platform:
// std::mt19937_64 is specified bit for bit by the standard, but
// std::normal_distribution is not, so normals come from our own
// Marsaglia polar method.
#include <cstdint>
#include <random>

#include "flowsense/core/types.hpp"

namespace flowsense {

class Rng {
public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  /// Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// Standard normal N(0, 1).
  double normal();

  /// A rows x cols matrix of iid N(0, 1), filled column by column.
  Matrix normal_matrix(Index rows, Index cols);

  /// An independent child stream, e.g. one per trial: seeds never collide
  /// for distinct (seed, stream) pairs (splitmix64 of both).
  static std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

  std::mt19937_64& engine() { return engine_; }

private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace flowsense
