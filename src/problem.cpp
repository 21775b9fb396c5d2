#include "flowsense/problem/problem.hpp"

#include <stdexcept>
#include <string>

namespace flowsense {

Problem Problem::noiseless(std::shared_ptr<const SensingOperator> op, Matrix planted) {
  if (!op) throw std::invalid_argument("Problem::noiseless: expected an operator, got null");
  if (planted.rows() != op->dim() || planted.cols() != op->dim())
    throw std::invalid_argument("Problem::noiseless: expected a " + std::to_string(op->dim()) + " x " +
                                std::to_string(op->dim()) + " planted matrix, got " +
                                std::to_string(planted.rows()) + " x " + std::to_string(planted.cols()));
  Problem p;
  p.op = std::move(op);
  p.b = (*p.op)(planted);
  p.planted = std::move(planted);
  return p;
}

Problem Problem::noiseless_from_factor(std::shared_ptr<const SensingOperator> op, const Matrix& W) {
  if (!op) throw std::invalid_argument("Problem::noiseless_from_factor: expected an operator, got null");
  if (W.rows() != op->dim() || W.cols() < 1)
    throw std::invalid_argument("Problem::noiseless_from_factor: expected a factor with " +
                                std::to_string(op->dim()) + " rows and at least one column, got " +
                                std::to_string(W.rows()) + " x " + std::to_string(W.cols()));
  Problem p;
  p.op = std::move(op);
  p.op->apply_gram(W, p.b);
  p.planted.noalias() = W * W.transpose();
  return p;
}

}  // namespace flowsense
