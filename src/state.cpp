#include "flowsense/flow/state.hpp"

namespace flowsense {

double training_error_of(const SensingLoss& loss, const Matrix& state, StateKind kind) {
  if (kind == StateKind::factor) return loss.training_error(state);
  Vector r;
  loss.op().apply(state, r);
  return (r - loss.data()).squaredNorm();
}

Matrix gram_of(const Matrix& state, StateKind kind) {
  if (kind == StateKind::gram) return state;
  Matrix X;
  X.noalias() = state * state.transpose();
  return X;
}

}  // namespace flowsense
