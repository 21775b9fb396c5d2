#pragma once
// K trajectories that share one loss (a sweep's trials over the same operator
// and data), integrated together with matrix-matrix products (issue 5):
//
//   BatchFactorFlow flow(loss, K);
//   std::vector<Matrix> U = {U0_1, ..., U0_K};       // equal shapes
//   Summary s = integrate_batch(flow, U, times, options);   // U now holds U_k(t_end)
//
// The members ride one stepper on the stacked state [U_1 ... U_K] with the
// shared step control of flow/batch_flow.hpp: every member meets its own
// tolerance, all take the smallest step any of them needs. Fixed-step
// steppers (euler/gd, rk4) give each member exactly the trajectory of a
// separate run, up to rounding. Every stepper works, the stiff ones included
// (the batch Jacobian is block diagonal).
//
// watch.observe and the stop rules see the stacked d x (K p) state; use
// split_members(state, K) for the members. The stock training-error rules
// (stop_rules.hpp) read a factor, so give a batch budget or norm rules only.
// Summary::last.rhs counts batched evaluations (each is K member
// evaluations).
#include <vector>

#include "flowsense/flow/batch_flow.hpp"
#include "flowsense/integrate/integrate.hpp"

namespace flowsense {

/// Throws std::invalid_argument if states.size() != flow.members() or the
/// states differ in shape (naming the member).
Summary integrate_batch(BatchFactorFlow& flow, std::vector<Matrix>& states, const std::vector<double>& times,
                        const IntegrateOptions& options, const Watch& watch = {});

extern template Summary integrate<BatchFactorFlow>(BatchFactorFlow&, Matrix&, const std::vector<double>&,
                                                   const IntegrateOptions&, const Watch&);

}  // namespace flowsense
