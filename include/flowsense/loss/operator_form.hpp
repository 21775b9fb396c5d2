#pragma once
// Which form of the operator the loss uses on the hot path (issue 5), and the
// cost model that picks it.
//
//   plain:  A*(A(UU^T) - b) U through the operator: for a PackedOperator one
//           pass over a measurement-major copy of the m x D matrix M
//           (core/fused_residual.hpp: 8 m D bytes, 4 m D flops) when the copy
//           is within OperatorFormOptions::fused_memory_limit, else two
//           passes over M itself (core/block_gemv.hpp: 16 m D bytes);
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
// by a factor `required_speedup` (default 2; an ODE run takes hundreds to
// millions of evaluations, and the default 1000 is the low end). The factor
// is there because the normal form is not free in accuracy: Q x - c cancels,
// so its gradient carries rounding of order eps ||Q|| ||x|| where the plain
// form has eps ||M|| ||A(X) - b||-sized terms. At large ||X|| with much of X
// in the null space of A this noise dominates the gradient: Example 1.1's
// rank-30 start of norm 1e3 (m = 240, d = 30, where the model saw normal
// 94 us against plain 97 us per gradient) took > 60 s with `auto` in the
// normal form against 0.6 s plain, its error estimates fed by the noise. A
// marginal model win is not worth that; a 10x one (paper 003, m = 5000) is. The choice is made once, when the loss is built, so a loss is
// the same function for its whole life and runs repeat bit for bit; Q is built
// at the first evaluation that needs it. Only operators derived from
// PackedOperator (Gaussian, user matrices) have a normal form; the structured
// ones (rank-one, entry sampling, full observation) are already O(m d p) or
// cheaper and stay plain.
//
// Only gradients, Hessian-vector and Jacobian-vector products use Q; training
// errors, values and observers are always computed from M, because the
// normal form of ||A(X) - b||^2 cancels (normal_operator.hpp). A stop rule's
// comparison with its level uses the normal form only where its rounding
// bound decides it (SensingLoss::training_error_below).
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
  double required_speedup = 0;
  bool fused_plain = false;      ///< the plain form reads M once (else twice)
  bool normal_cheaper = false;   ///< normal_seconds < plain_seconds
  /// (build + E normal) * required_speedup < E plain for E =
  /// expected_evaluations: the automatic choice.
  bool normal_pays = false;
  std::string describe() const;  ///< the numbers, for manifests
};

/// The cost of a gradient at d x p factors for an m x D packed operator;
/// `fused_plain`: the plain form reads M once (core/fused_residual.hpp), not twice.
KernelCost kernel_cost(Index d, Index m, Index p, const MachineModel& machine = {},
                       double expected_evaluations = 1000, double required_speedup = 2,
                       bool fused_plain = false);

/// Options of the loss' operator form (SensingLoss constructor).
struct OperatorFormOptions {
  OperatorForm form = OperatorForm::automatic;
  /// Threads for a packed operator's products, on one persistent worker pool:
  /// the normal form's Q x (core/symmetric_panels.hpp) and the plain form's
  /// pass over M (core/fused_residual.hpp, or M x and M^T r over M itself,
  /// core/block_gemv.hpp; up to 4 threads either way); results are
  /// identical for every count. 1 keeps the caller's
  /// thread only; 2 pays on an idle machine (docs/performance_kernels.md),
  /// not on a busy one, where a descheduled worker stalls every product.
  int threads = 1;
  MachineModel machine;
  /// The run length the automatic choice amortizes building Q over.
  double expected_evaluations = 1000;
  /// How much cheaper (build included) the normal form must be to be chosen
  /// automatically (>= 1; see the file comment for why not 1).
  double required_speedup = 2;
  /// The plain form of a packed operator keeps a measurement-major copy of M
  /// (core/fused_residual.hpp, 8 m D bytes, made at the first plain
  /// evaluation) and reads it once per gradient, if the copy takes at most
  /// this many bytes; else it reads M itself twice (core/block_gemv.hpp).
  /// 0 never copies. The two agree to rounding (~1e-15 relative), not bit
  /// for bit. The default, 1 GiB, covers d = 200 at m = 5000 (804 MB).
  double fused_memory_limit = 1073741824.0;
};

}  // namespace flowsense
