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
#include "flowsense/flow/reduced_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/stop_rules.hpp"
#include "flowsense/observe/metric.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "flowsense/trajectory/trajectory.hpp"

namespace flowsense {

/// Which state is integrated, and why (recorded in the manifest as "flow").
struct FlowChoice {
  FlowKind type = FlowKind::factor;  ///< factor or gram (the X flow (30))
  bool reduced = false;              ///< factor: the exact reduced flow on L = U0 R
  ReducedFactor reduction;           ///< factor: the split U0 = L0 R^T (computed for "auto")
  nlohmann::json record;             ///< integrated, state shape, reason, rank(U0), ...
  StateKind state_kind() const { return type == FlowKind::gram ? StateKind::gram : StateKind::factor; }
};

/// Decides the integrated state for a config and its U0: the X flow for
/// flow.type "gram"; for "factor" the reduced flow when flow.reduced is
/// "auto" and rank(U0) < p (at flow.reduced_rank_tol), else the full one.
FlowChoice choose_flow(const FlowConfig& flow, const Matrix& U0);

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
  FlowChoice flow;                ///< which state run() integrates
  /// What the theory observers precomputed once (||A||, Z*_s certificates).
  nlohmann::json observers = nlohmann::json::object();
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
  /// The last good state: U (d x p; U = L R^T for a reduced run) or X (gram).
  Matrix final_state;
  nlohmann::json flow;    ///< FlowChoice::record, plus the gram_gap reference run
  nlohmann::json observers = nlohmann::json::object();  ///< Experiment::observers
  double gd_step = 0.0;
  std::vector<std::string> stop_rules;  ///< describe() of each rule
  // What the run cost and what it ran on, for the manifest.
  std::string operator_name;    ///< SensingOperator::name()
  Index measurements = 0;       ///< m
  double operator_bytes = 0.0;  ///< operator_storage_bytes()
  double noise_energy = 0.0;    ///< ||b - A(X♮)||^2 = ||sigma eps||^2 (problem/noise.hpp)
  double peak_memory_bytes = 0.0;  ///< peak resident memory of the process after the run (0 if unknown)
  /// SensingLoss::operator_form_report(): plain or normal operator, and why.
  std::string operator_form;
};

/// Integrates the configured flow (FlowChoice) and records it; with
/// flow.gram_gap, first integrates the other flow from the same start and
/// adds the "gram_gap" column. Never throws for a numerical outcome (see
/// trajectory.summary).
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
