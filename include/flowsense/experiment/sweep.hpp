#pragma once
// Sweeps: a grid over any config fields times a number of trials.
//
//   SweepSpec spec = load_sweep("figure.json");
//   SweepReport report = run_sweep(spec, "out", {});   // parallel, resumable
//   aggregate_sweep(spec, "out");                      // mean +- std/2 per grid point
//
// A sweep file is JSON:
//   { "seed": 7,
//     "base": { ...a run config... } | "base": "run.json",
//     "grid": [ {"field": "init.rank", "values": [2, 30]},
//               {"field": "stepper",   "values": [{"type": "gd"}, {"type": "dopri5"}]} ],
//     "trials": 3,
//     "trial_fields": ["init.seed"],
//     "aggregate": ["training_error", "test_error"] }
// `field` is a dotted path into the config; its value replaces what the base
// has there. Trial t (0-based) sets each trial field f_j to
// Rng::derive_seed(Rng::derive_seed(seed, j + 1), t), so trials differ only
// where the sweep says and every run is seeded by its own config: the same
// sweep gives the same numbers whatever the number of threads.
//
// Each run writes out/runs/<id>/ with write_run_outputs(); its manifest.json
// is written last (atomically), so a run directory with a manifest is
// complete. An interrupted sweep, even killed with SIGKILL, resumes by
// skipping complete runs and loses nothing. A run cut short by
// SweepOptions::cancel (Ctrl-C) writes no manifest, so it runs again on
// resume. A run that throws is recorded in out/runs/<id>/failed.json with its
// reason and does not stop the others (failed runs are tried again on resume).
// out/sweep_spec.json holds what defines the runs (seed, base, grid, trials,
// trial_fields); resuming into a directory that holds a different sweep is an
// InputError, so finished runs of another sweep are never mixed in.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flowsense {

struct SweepAxis {
  std::string field;                  ///< dotted config path, e.g. "init.norm"
  std::vector<nlohmann::json> values;
};

struct SweepSpec {
  std::string description;
  nlohmann::json base;                ///< the run config every run starts from
  std::string base_dir;               ///< where relative .npy paths resolve
  std::vector<SweepAxis> grid;
  int trials = 1;
  std::vector<std::string> trial_fields;
  std::uint64_t seed = 0;
  std::vector<std::string> aggregate = {"training_error", "test_error"};
};

/// Throws InputError naming the field ("grid[1].values", ...).
SweepSpec parse_sweep(const nlohmann::json& sweep, const std::string& base_dir);
SweepSpec load_sweep(const std::string& path);

/// Sets a dotted path in a JSON object, creating objects on the way.
void set_field(nlohmann::json& config, const std::string& dotted_path, const nlohmann::json& value);

struct SweepRun {
  std::string id;            ///< "g003_t1": grid point 3, trial 1
  std::size_t grid_index;
  int trial;
  nlohmann::json params;     ///< {"init.rank": 2, ...} for this grid point
  nlohmann::json config;     ///< the full run config
};

/// Every run of the sweep, grid points in row-major order (the last axis
/// fastest), trials innermost.
std::vector<SweepRun> expand_sweep(const SweepSpec& spec);

struct SweepProgress {
  std::size_t total = 0, done = 0, running = 0, failed = 0, skipped = 0;
  std::size_t interrupted = 0;                    ///< cut short by cancel, not recorded
  double elapsed_seconds = 0, eta_seconds = -1;  ///< eta < 0: unknown yet
  std::string last_finished;                      ///< id and status of the last run
};

struct SweepOptions {
  int threads = 0;  ///< 0: the machine's cores
  std::function<void(const SweepProgress&)> progress;  ///< when a run starts and after each run
  const std::atomic<bool>* cancel = nullptr;           ///< stop starting new runs
};

struct SweepReport {
  std::size_t total = 0, completed = 0, skipped = 0, failed = 0;
  std::size_t interrupted = 0;  ///< started but cut short by cancel: they run again on resume
  bool cancelled = false;
  nlohmann::json runs;  ///< [{id, params, trial, status, termination|reason}]
};

/// What defines the runs of a sweep (seed, base, grid, trials, trial_fields):
/// two sweeps with equal keys have the same runs.
nlohmann::json sweep_key(const SweepSpec& spec);

/// Runs every run not yet complete in out_dir, in parallel; writes
/// out/sweep.json (the spec and every run's status) at the end. Throws
/// InputError if out_dir holds the runs of a different sweep.
SweepReport run_sweep(const SweepSpec& spec, const std::string& out_dir, const SweepOptions& options);

/// Mean and sample standard deviation (n - 1 in the denominator, as MATLAB's
/// std, which the papers' figures use); std = 0 for n = 1. Non-finite values
/// are skipped and not counted.
struct MeanStd {
  double mean = 0, std = 0;
  int n = 0;
};
MeanStd mean_and_std(const std::vector<double>& values);

/// One grid point over its complete trials, at each trial's last row.
struct PointSummary {
  std::size_t point = 0;
  nlohmann::json params;                   ///< {"init.rank": 2, ...}
  int trials_complete = 0, trials_failed = 0;
  std::map<std::string, int> terminations; ///< "target_reached" -> 2, ...
  std::vector<double> final_iterations;    ///< where each complete trial ended
  std::vector<double> final_t;
  std::vector<std::string> final_terminations;  ///< how each complete trial ended
  std::map<std::string, MeanStd> final;    ///< aggregated column -> over the trials' last rows
};

/// Reads every complete run's trajectory.csv and writes out/aggregate.csv:
/// one row per (grid point, observation row) with the point index, t and
/// iteration (of the first trial with that row), and for each aggregated
/// column c: c_mean, c_std, c_lo = mean - std/2, c_hi = mean + std/2, c_n;
/// and out/points.json: each point's index, grid values, complete and failed
/// trials, terminations and final values (the PointSummary, mean, std and n
/// per aggregated column). Rows are aligned by index: every trial of a grid
/// point shares its time grid, and a trial that stopped early simply has no
/// later rows (c_n says how many trials a row holds).
std::vector<PointSummary> aggregate_sweep(const SweepSpec& spec, const std::string& out_dir);

}  // namespace flowsense
