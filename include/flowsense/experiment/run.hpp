#pragma once
// Running a configured experiment:
//
//   RunConfig config = load_config("run.json");        // experiment/config.hpp
//   RunResult result = run(config);                     // integrate and record
//   write_run_outputs("out", config, result);           // CSV, manifest, snapshots
//
// build_experiment() exposes the pieces (Problem, SensingLoss, U0, options,
// times, metrics, stop rules) for callers that want to drive integrate()
// themselves. A run never throws for a numerical outcome: the trajectory's
// Summary says why and where it stopped, and everything recorded up to
// there is kept.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/experiment/config.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/stop_rules.hpp"
#include "flowsense/observe/metric.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "flowsense/trajectory/trajectory.hpp"

namespace flowsense {

/// Everything a configured run is made of.
struct Experiment {
  Problem problem;
  SensingLoss loss;
  Matrix initial;                 ///< U0, d x p
  IntegrateOptions options;
  std::vector<double> times;      ///< flow times, from 0
  double gd_step = 0.0;           ///< flow time of one GD iteration (0: none)
  std::vector<std::shared_ptr<Metric>> metrics;
  SnapshotKind snapshots = SnapshotKind::none;
};

/// Builds the problem, loss, initial state, options, times and metrics.
/// Throws InputError only for what parse_config could not know (none today).
Experiment build_experiment(const RunConfig& config);

/// Fresh stop rules for one run (they keep state: budgets start their clocks).
std::vector<std::shared_ptr<StopRule>> make_stop_rules(const RunConfig& config, const SensingLoss& loss);

/// What a progress display sees, about four times a second.
struct RunProgress {
  StepInfo info;
  double t_end = 0.0;
  double gd_step = 0.0;         ///< to show GD iterations (0: none)
  double training_error = 0.0;  ///< at the last observation time (NaN before the first)
};

struct RunHooks {
  std::function<void(const RunProgress&)> progress;
  const std::atomic<bool>* cancel = nullptr;  ///< set to true to interrupt the run
};

struct RunResult {
  Trajectory trajectory;  ///< rows, snapshots and the Summary
  Matrix final_state;     ///< the last good state
  double gd_step = 0.0;
  std::vector<std::string> stop_rules;  ///< describe() of each rule
};

/// Integrates the configured flow and records it. Never throws for a
/// numerical outcome (see trajectory.summary).
RunResult run(const RunConfig& config, const RunHooks& hooks = {});

/// Writes into `dir` (created if needed), each file atomically:
///   trajectory.csv                      one row per observation time
///   snapshots/U_<k>.npy or X_<k>.npy    if snapshots were recorded (k = row)
///   manifest.json                       written last; see docs/cli.md
/// and returns the manifest. `extra` fields are merged into the manifest.
nlohmann::json write_run_outputs(const std::string& dir, const RunConfig& config, const RunResult& result,
                                 const nlohmann::json& extra = nlohmann::json::object());

/// The snapshot file name of row k: "U_0007.npy" (factor) or "X_0007.npy" (gram).
std::string snapshot_file_name(SnapshotKind kind, std::size_t row, std::size_t rows);

}  // namespace flowsense
