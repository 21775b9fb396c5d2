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

}  // namespace flowsense
