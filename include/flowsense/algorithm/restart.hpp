#pragma once
// Algorithm 1 of paper 000 (Section 5): gradient descent that restarts from a
// smaller, lower-rank initialization whenever the training error fell
// "too fast" (linearly) over the last window.
//
//   for k = 0, 1, ..., K:
//     1. U_{k+1} = U_k - eta grad ||A(U_k U_k^T) - b||^2            (GD, (3))
//     2. if mod(k, W) = 1:
//        (a) ratio = max_{k-W+1 <= k' <= k} e_{k'} / e_{k'-1},   e_k = ||A(U_kU_k^T) - b||^2
//        (b) if ratio < tau: rho <- factor * rho, r0 <- max(r0 - Delta_rank, r),
//            U_{k+1} <- a rank-r0 matrix in ball(rho)                  (restart)
//
// Read literally: indices k' < 1 are skipped (e_{-1} does not exist), and the
// window is over the global iteration count, so the first ratio after a
// restart compares the new start with the last iterate before it. The
// `segment_window` variant instead only looks at ratios inside the current
// run since the last restart; it is labelled as a variant everywhere.
//
// On the flow, the same rule runs on e(t) sampled every h_GD = 8 eta of flow
// time (one GD iteration), with the flow integrated by an adaptive stepper
// between samples.
//
// docs/figure_5.md reports what the literal rule does on Figure 5's setting
// and why the `stop_at_min_rank` variant exists.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "flowsense/integrate/stepper.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/trajectory.hpp"

namespace flowsense {

/// Step 2 of Algorithm 1 on its own, fed one training error per iteration, so
/// that the rule can be tested on a scripted sequence.
class RestartRule {
public:
  /// Throws std::invalid_argument unless window >= 1 and tau >= 0.
  RestartRule(std::uint64_t window, double tau, bool segment_window = false);

  /// Feed e_k for k = 0, 1, 2, ... in order (k is the global iteration).
  /// Returns the window's ratio when k is a checkpoint (mod(k, W) = 1) with at
  /// least one ratio in its window, else nullopt. fires(ratio) says whether it restarts.
  std::optional<double> observe(std::uint64_t k, double error);
  bool fires(double ratio) const { return ratio < tau_; }
  /// Tell the rule that the iterate after k is a fresh start.
  void restarted_after(std::uint64_t k);

  std::uint64_t window() const { return window_; }
  double tau() const { return tau_; }

private:
  std::uint64_t window_;
  double tau_;
  bool segment_window_;
  std::uint64_t segment_start_ = 0;  ///< first iteration of the current run
  std::optional<double> previous_;
  std::deque<double> ratios_;        ///< e_{k'}/e_{k'-1} for the last W values of k'
  std::deque<std::uint64_t> ratio_index_;
};

struct RestartOptions {
  double learning_rate = 5e-6;   ///< eta of (3)
  std::uint64_t iterations = 100000;  ///< K
  std::uint64_t window = 100;    ///< W
  double tau = 0.998;            ///< tau
  Index initial_rank = 30;       ///< r0
  double initial_norm = 10.0;    ///< rho0 (the start has exactly this norm)
  Index rank_step = 3;           ///< Delta_rank
  double factor = 0.5;           ///< factor in (0, 1)
  Index min_rank = 2;            ///< r >= rank(X♮)
  Index width = 0;               ///< p (0 = d)
  std::uint64_t seed = 0;        ///< restart j draws random_factor(..., derive_seed(seed, j))
  bool segment_window = false;   ///< the variant described above
  /// Variant "stop at r": once the rank has reached r, the rule no longer
  /// restarts (the literal rule keeps shrinking the norm at rank r, and then
  /// fires during the escape from the origin, whose decrease is also linear).
  bool stop_at_min_rank = false;
  bool restarts = true;          ///< false: plain GD from the same U0 (the baseline)
  /// On the flow: integrate with this adaptive stepper between samples.
  std::optional<StepperKind> flow_stepper;
  double rtol = 1e-8, atol = 1e-12;
  /// Record a row at these iterations (plus every restart); empty = log grid.
  std::vector<std::uint64_t> record_at;

  std::string validate() const;  ///< empty if valid
};

struct RestartEvent {
  std::uint64_t iteration;  ///< k at which the rule fired; U_{k+1} is the new start
  double ratio;             ///< the window's ratio (< tau)
  Index new_rank;
  double new_norm;
  double training_error;    ///< e_k when it fired
  double test_error;        ///< ||U_k U_k^T - X♮||_F^2 when it fired
};

struct RestartResult {
  Trajectory trajectory;  ///< columns: t, iteration, training_error, test_error, rank, current_rank, current_norm
  std::vector<RestartEvent> restarts;
  Matrix final_factor;
};

/// Runs Algorithm 1 (or plain GD with options.restarts = false) on `problem`
/// with paper 000's conventions (c = 1/4, h = 8 eta).
RestartResult run_restart_algorithm(const Problem& problem, const RestartOptions& options);

}  // namespace flowsense
