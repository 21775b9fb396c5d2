#include "flowsense/experiment/run.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "flowsense/io/atomic_file.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/trajectory/manifest.hpp"

namespace flowsense {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// "iteration": the GD-equivalent iteration. With the "gd" stepper the run
/// *is* GD, so the iteration is the step count. At an observation time of a
/// grid given in GD iterations it is that whole iteration (k h / h need not
/// round back to k). Elsewhere it is t / h_GD (NaN without a learning rate).
class GdIterationMetric : public Metric {
public:
  GdIterationMetric(double gd_step, bool exact_steps, std::vector<double> times, std::vector<double> iterations)
      : gd_step_(gd_step), exact_steps_(exact_steps), times_(std::move(times)), iterations_(std::move(iterations)) {}
  std::vector<std::string> columns() const override { return {"iteration"}; }
  void measure(Observation& o, std::vector<double>& row) const override {
    const StepInfo& info = o.info();
    if (exact_steps_) {
      row.push_back(static_cast<double>(info.steps));
      return;
    }
    if (iterations_.size() == times_.size()) {
      const auto it = std::lower_bound(times_.begin(), times_.end(), info.t);
      if (it != times_.end() && *it == info.t) {
        row.push_back(iterations_[static_cast<std::size_t>(it - times_.begin())]);
        return;
      }
    }
    row.push_back(gd_step_ > 0 ? info.t / gd_step_ : std::numeric_limits<double>::quiet_NaN());
  }

private:
  double gd_step_;
  bool exact_steps_;
  std::vector<double> times_, iterations_;
};

Matrix make_planted(const RunConfig& c) {
  switch (c.planted.type) {
    case PlantedKind::trace_one: return planted_trace_one(c.dim, c.planted.rank, c.planted.seed);
    case PlantedKind::orthogonal: return planted_orthogonal(c.dim, c.planted.eigenvalues, c.planted.seed);
    case PlantedKind::file: return c.planted.matrix;
  }
  return {};
}

Matrix make_initial(const RunConfig& c) {
  if (c.init.type == InitKind::file) return c.init.matrix;
  return random_factor(c.dim, c.init.width, c.init.rank, c.init.norm, c.init.seed);
}

SnapshotKind snapshot_kind(SnapshotChoice s) {
  switch (s) {
    case SnapshotChoice::none: return SnapshotKind::none;
    case SnapshotChoice::factor: return SnapshotKind::factor;
    case SnapshotChoice::gram: return SnapshotKind::gram;
  }
  return SnapshotKind::none;
}

}  // namespace

Experiment build_experiment(const RunConfig& config) {
  Problem problem = Problem::noiseless(build_operator(config.op, config.dim), make_planted(config));
  SensingLoss loss(problem, config.loss.c);
  const double h = config.loss.gd_step();

  std::vector<std::shared_ptr<Metric>> metrics = {
      std::make_shared<TimeMetric>(), std::make_shared<GdIterationMetric>(h, config.stepper.gd, config.times.times,
                                                                     config.times.time_iterations),
      std::make_shared<StepperStatsMetric>(), std::make_shared<TrainingErrorMetric>(),
      std::make_shared<TestErrorMetric>(problem.planted), std::make_shared<RankMetric>(config.observe.rank_tol)};
  if (config.observe.singular_values > 0)
    metrics.push_back(std::make_shared<SingularValuesMetric>(config.observe.singular_values));

  Matrix initial = make_initial(config);
  return Experiment{std::move(problem),
                    std::move(loss),
                    std::move(initial),
                    config.stepper.options,
                    config.times.times,
                    h,
                    std::move(metrics),
                    snapshot_kind(config.observe.snapshots)};
}

std::vector<std::shared_ptr<StopRule>> make_stop_rules(const RunConfig& config, const SensingLoss& loss) {
  const StopConfig& s = config.stop;
  std::vector<std::shared_ptr<StopRule>> rules;
  if (s.training_error_below)
    rules.push_back(std::make_shared<TrainingErrorBelow>(loss, StateKind::factor, *s.training_error_below,
                                                         s.training_error_relative, s.training_error_every));
  if (s.stagnation_window)
    rules.push_back(std::make_shared<Stagnation>(loss, StateKind::factor, *s.stagnation_window,
                                                 s.stagnation_tolerance));
  if (s.max_steps || s.max_rhs || s.max_seconds > 0)
    rules.push_back(std::make_shared<Budget>(s.max_steps, s.max_rhs, s.max_seconds));
  if (s.max_state_norm) rules.push_back(std::make_shared<NormAbove>(*s.max_state_norm));
  return rules;
}

RunResult run(const RunConfig& config, const RunHooks& hooks) {
  Experiment e = build_experiment(config);
  Recorder recorder(e.loss, StateKind::factor, e.metrics, e.gd_step, e.snapshots);
  const std::size_t train_col = static_cast<std::size_t>(
      std::find(recorder.trajectory().columns.begin(), recorder.trajectory().columns.end(), "training_error") -
      recorder.trajectory().columns.begin());
  double last_training_error = std::numeric_limits<double>::quiet_NaN();

  Watch watch;
  watch.observe = [&](const Matrix& state, const StepInfo& info) {
    recorder.record(state, info);
    last_training_error = recorder.trajectory().rows.back()[train_col];
  };
  watch.stop_rules = make_stop_rules(config, e.loss);
  watch.cancel = hooks.cancel;
  if (hooks.progress)
    watch.progress = [&](const StepInfo& info, double t_end) {
      hooks.progress(RunProgress{info, t_end, e.gd_step, last_training_error});
    };

  RunResult result;
  for (const auto& rule : watch.stop_rules) result.stop_rules.push_back(rule->describe());
  result.gd_step = e.gd_step;
  Matrix state = e.initial;
  // The flow (factor today; "gram" and the reduced flow are later branches).
  FactorFlow flow(e.loss);
  const Summary summary = integrate(flow, state, e.times, e.options, watch);
  recorder.finish(summary);
  result.trajectory = recorder.take();
  result.final_state = std::move(state);
  return result;
}

std::string snapshot_file_name(SnapshotKind kind, std::size_t row, std::size_t rows) {
  std::string digits = std::to_string(row);
  const std::size_t width = std::max<std::size_t>(4, std::to_string(rows > 0 ? rows - 1 : 0).size());
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return std::string(kind == SnapshotKind::gram ? "X_" : "U_") + digits + ".npy";
}

json write_run_outputs(const std::string& dir, const RunConfig& config, const RunResult& result, const json& extra) {
  create_directories(dir);
  const Trajectory& tr = result.trajectory;
  const Summary& s = tr.summary;

  // Snapshots first, manifest last: a manifest means the rest is complete.
  json snapshots = json::array();
  const SnapshotKind kind = snapshot_kind(config.observe.snapshots);
  const std::string sub = (fs::path(dir) / "snapshots").string();
  std::error_code ec;
  if (fs::is_directory(sub, ec)) {
    // Remove a previous run's snapshots, so the folder holds this run only.
    for (const auto& entry : fs::directory_iterator(sub)) {
      const std::string name = entry.path().filename().string();
      if ((name.rfind("U_", 0) == 0 || name.rfind("X_", 0) == 0) && entry.path().extension() == ".npy")
        fs::remove(entry.path());
    }
  }
  if (kind != SnapshotKind::none && !tr.snapshots.empty()) {
    create_directories(sub);
    const std::size_t n = tr.snapshots.size();
    const auto every = static_cast<std::size_t>(config.observe.snapshot_every);
    const bool has_iteration = tr.has_column("iteration");
    const std::vector<double> iterations = has_iteration ? tr.column("iteration") : std::vector<double>{};
    for (std::size_t k = 0; k < n; ++k) {
      if (k % every != 0 && k + 1 != n) continue;
      const std::string name = snapshot_file_name(kind, k, n);
      write_npy((fs::path(sub) / name).string(), tr.snapshots[k].value);
      json entry = {{"file", "snapshots/" + name}, {"row", k}, {"t", tr.snapshots[k].t}};
      if (k < iterations.size()) entry["iteration"] = iterations[k];
      snapshots.push_back(entry);
    }
  }

  tr.write_csv((fs::path(dir) / "trajectory.csv").string());

  json final_values = json::object();
  if (!tr.rows.empty())
    for (std::size_t j = 0; j < tr.columns.size(); ++j) {
      const double v = tr.rows.back()[j];
      final_values[tr.columns[j]] = std::isfinite(v) ? json(v) : json(nullptr);
    }
  json manifest = make_manifest({
      {"config", to_json(config)},
      {"status", s.ok() ? "ok" : "abnormal"},
      {"summary", to_json(s)},
      {"stopped_at",
       {{"t", s.last.t},
        {"step", s.last.steps},
        {"iteration", result.gd_step > 0 ? json(config.stepper.gd ? static_cast<double>(s.last.steps)
                                                                  : s.last.t / result.gd_step)
                                         : json(nullptr)}}},
      {"stepper", {{"name", config.stepper.name()}, {"gd_step", result.gd_step}}},
      {"stop_rules", result.stop_rules},
      {"trajectory", {{"file", "trajectory.csv"}, {"columns", tr.columns}, {"rows", tr.rows.size()}}},
      {"final", final_values},
      {"snapshots", {{"kind", to_string(config.observe.snapshots)}, {"files", snapshots}}},
  });
  for (auto it = extra.begin(); it != extra.end(); ++it) manifest[it.key()] = it.value();
  write_json((fs::path(dir) / "manifest.json").string(), manifest);
  return manifest;
}

}  // namespace flowsense
