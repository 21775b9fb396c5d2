#pragma once
// A sensing problem: the operator, the planted model X♮ (Z* in paper 003) and
// the data b = A(X♮) + noise. The first stage of the pipeline
// problem -> loss -> flow -> integrate -> trajectory -> analysis.
#include <memory>
#include <optional>

#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

struct Problem {
  std::shared_ptr<const SensingOperator> op;
  Matrix planted;  ///< X♮, d x d symmetric PSD
  Vector b;        ///< training data
  std::optional<double> xi;  ///< the norm bound of M_b (paper 000), if set

  Index dim() const { return op->dim(); }
  Index measurements() const { return op->measurements(); }

  /// b = A(planted), noiseless. Throws std::invalid_argument on a size mismatch.
  static Problem noiseless(std::shared_ptr<const SensingOperator> op, Matrix planted);
};

}  // namespace flowsense
