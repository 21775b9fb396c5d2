#pragma once
// A sensing problem: the operator, the planted model X♮ (Z* in paper 003) and
// the data b = A(X♮) + noise. The first stage of the pipeline
// problem -> loss -> flow -> integrate -> trajectory -> analysis.
#include <cstdint>
#include <memory>
#include <optional>

#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

struct Problem {
  std::shared_ptr<const SensingOperator> op;
  Matrix planted;  ///< X♮, d x d symmetric PSD
  Vector b;        ///< training data
  std::optional<double> xi;  ///< the norm bound of M_b (paper 000), if set
  /// b = A(X♮) + noise_level * eps, eps ~ N(0, I_m) from Rng(*noise_seed)
  /// (problem/noise.hpp); 0 and no seed for noiseless data.
  double noise_level = 0.0;
  std::optional<std::uint64_t> noise_seed;

  Index dim() const { return op->dim(); }
  Index measurements() const { return op->measurements(); }

  /// b = A(planted), noiseless. Throws std::invalid_argument on a size mismatch.
  static Problem noiseless(std::shared_ptr<const SensingOperator> op, Matrix planted);

  /// The same for X♮ = W W^T given by a d x r factor W: b = A(W W^T) through
  /// apply_gram, which structured operators (rank-one projections, entry
  /// sampling) evaluate in O(m d r) instead of the O(m d^2) of apply.
  static Problem noiseless_from_factor(std::shared_ptr<const SensingOperator> op, const Matrix& W);
};

}  // namespace flowsense
