#pragma once
// Which form of the operator the loss uses on the hot path (issue 5), and the
// cost model that picks it.
//
//   plain:  A*(A(UU^T) - b) U through the operator: for a PackedOperator two
//           passes over the m x D matrix M (16 m D bytes, 4 m D flops);
//   normal: unvech(Q vech(UU^T) - c) U with Q = M^T M
//           (problem/normal_operator.hpp): one pass over Q (8 D^2 bytes,
//           2 D^2 flops), after a one-time build of m D (D + 1) flops;
//   automatic (default): the cost model below.
//
// The cost model estimates seconds per gradient as max(bytes / bandwidth,
// flops / peak) for each form, on a nominal machine (MachineModel, defaults
// near the measured 2-core machine: 19 GB/s, ~40 GFLOP/s), plus the
// O(d^2 p) products they share, and picks the normal form if building Q and
// `expected_evaluations` normal evaluations cost less than as many plain ones
// (an ODE run takes hundreds to millions of evaluations; the default 1000 is
// the low end). The choice is made once, when the loss is built, so a loss is
// the same function for its whole life and runs repeat bit for bit; Q is built
// at the first evaluation that needs it. Only operators derived from
// PackedOperator (Gaussian, user matrices) have a normal form; the structured
// ones (rank-one, entry sampling, full observation) are already O(m d p) or
// cheaper and stay plain.
//
// Only gradients, Hessian-vector and Jacobian-vector products use Q; training
// errors, values, stop rules and observers are always computed from M, because
// the normal form of ||A(X) - b||^2 cancels (normal_operator.hpp).
#include <string>

#include "flowsense/core/types.hpp"

namespace flowsense {

enum class OperatorForm { automatic, plain, normal };

std::string to_string(OperatorForm form);
/// "automatic" | "plain" | "normal"; throws std::invalid_argument naming the
/// value and the allowed ones.
OperatorForm parse_operator_form(const std::string& name);

/// The machine the cost model assumes (measured ones from bench/bench_kernels).
struct MachineModel {
  double bandwidth = 19e9;   ///< bytes/s streamed from memory
  double peak_flops = 40e9;  ///< flop/s of a large DGEMM/SYRK
};

/// Estimated seconds of one gradient evaluation in each form and of building Q.
struct KernelCost {
  double plain_seconds = 0;
  double normal_seconds = 0;
  double build_seconds = 0;
  double expected_evaluations = 0;
  bool normal_cheaper = false;   ///< normal_seconds < plain_seconds
  /// build + E normal < E plain for E = expected_evaluations: the automatic choice.
  bool normal_pays = false;
  std::string describe() const;  ///< the numbers, for manifests
};

/// The cost of a gradient at d x p factors for an m x D packed operator.
KernelCost kernel_cost(Index d, Index m, Index p, const MachineModel& machine = {},
                       double expected_evaluations = 1000);

/// Options of the loss' operator form (SensingLoss constructor).
struct OperatorFormOptions {
  OperatorForm form = OperatorForm::automatic;
  /// Threads for the normal form's GEMV (NormalOperator::set_threads); results
  /// are identical for every count. 1 keeps the caller's thread only.
  int threads = 1;
  MachineModel machine;
  /// The run length the automatic choice amortizes building Q over.
  double expected_evaluations = 1000;
};

}  // namespace flowsense
