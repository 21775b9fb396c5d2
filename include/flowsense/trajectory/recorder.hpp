#pragma once
// Turns metrics into an integrate() observer that fills a Trajectory:
//
//   Recorder recorder(loss, StateKind::factor, standard_metrics(planted), gd_step);
//   Summary s = integrate(flow, U, times, options, {recorder.observer()});
//   recorder.finish(s);  // recorder.trajectory() now holds rows + summary
#include <memory>

#include "flowsense/integrate/integrate.hpp"
#include "flowsense/observe/metric.hpp"
#include "flowsense/trajectory/trajectory.hpp"

namespace flowsense {

enum class SnapshotKind { none, factor, gram };

class Recorder {
public:
  Recorder(SensingLoss loss, StateKind kind, std::vector<std::shared_ptr<Metric>> metrics,
           double gd_step = 0.0, SnapshotKind snapshots = SnapshotKind::none);

  /// The observer to hand to integrate(); it refers to this Recorder.
  Observer observer();
  /// Record one state (what observer() calls).
  void record(const Matrix& state, const StepInfo& info);
  void finish(const Summary& summary) { trajectory_.summary = summary; }

  const Trajectory& trajectory() const { return trajectory_; }
  Trajectory take() { return std::move(trajectory_); }

private:
  SensingLoss loss_;
  StateKind kind_;
  std::vector<std::shared_ptr<Metric>> metrics_;
  double gd_step_;
  SnapshotKind snapshots_;
  Trajectory trajectory_;
};

/// t, iteration, stepper stats, training error, test error (if a planted
/// matrix is given), rank at rank_tol, and the k leading singular values.
std::vector<std::shared_ptr<Metric>> standard_metrics(const Matrix* planted, double rank_tol = 1e-8,
                                                      int singular_values = 0);

}  // namespace flowsense
