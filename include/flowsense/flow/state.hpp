#pragma once
// What a state matrix means: a factor U (d x p, X = U U^T) or the Gram matrix
// X itself (the flow (30)). Observers and stop rules read it through these.
#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

enum class StateKind { factor, gram };

/// ||A(X) - b||^2 for X = U U^T (factor) or X (gram).
double training_error_of(const SensingLoss& loss, const Matrix& state, StateKind kind);

/// X = U U^T (factor) or the state itself (gram).
Matrix gram_of(const Matrix& state, StateKind kind);

}  // namespace flowsense
