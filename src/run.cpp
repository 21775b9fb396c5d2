#include "flowsense/experiment/run.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/io/atomic_file.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/observe/theory_metrics.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/noise.hpp"
#include "flowsense/problem/rank_one_operator.hpp"
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

/// Peak resident memory of this process (VmHWM of /proc/self/status), 0
/// where that file does not exist.
double peak_resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      double kib = 0;
      fields >> kib;
      return kib * 1024.0;
    }
  return 0.0;
}

/// The data b = A(X♮). With a trace-one planted model X♮ = F Fᵀ, F = W/‖W‖_F
/// (the W of planted_trace_one), and an operator whose factor form is
/// cheaper than apply, b = A(F Fᵀ) comes from apply_gram(F): O(m d r)
/// instead of O(m d²) for rank-one projections (minutes less at d = 2000;
/// docs/operators.md). Dense operators cost the same either way and keep
/// b = A(X♮), so their data are unchanged. X♮ itself is planted_trace_one's
/// in both cases.
Problem make_data(const RunConfig& c, std::shared_ptr<const SensingOperator> op) {
  const bool factor_form = dynamic_cast<const RankOneOperator*>(op.get()) != nullptr ||
                           dynamic_cast<const EntrySamplingOperator*>(op.get()) != nullptr;
  if (!factor_form || c.planted.type != PlantedKind::trace_one) return Problem::noiseless(std::move(op), make_planted(c));
  Matrix F = Rng(c.planted.seed).normal_matrix(c.dim, c.planted.rank);
  F /= F.norm();
  Problem problem = Problem::noiseless_from_factor(std::move(op), F);
  problem.planted = make_planted(c);
  return problem;
}

SnapshotKind snapshot_kind(SnapshotChoice s) {
  switch (s) {
    case SnapshotChoice::none: return SnapshotKind::none;
    case SnapshotChoice::factor: return SnapshotKind::factor;
    case SnapshotChoice::gram: return SnapshotKind::gram;
  }
  return SnapshotKind::none;
}

/// The theory observers the config names (observe/theory_metrics.hpp), with
/// their once-per-run precomputations (||A||, Z*_s); returns what those found,
/// for the manifest.
json add_theory_metrics(const RunConfig& config, const Problem& problem, const SensingLoss& loss,
                        std::vector<std::shared_ptr<Metric>>& metrics) {
  const ObserveConfig& o = config.observe;
  json record = json::object();
  if (o.manifold_distance.enabled) {
    const auto& m = o.manifold_distance;
    const OperatorNorm norm = operator_norm(*problem.op, m.norm);
    record["manifold_distance"] = {{"op_norm", norm.value}, {"op_norm_method", norm.method},
                                   {"op_norm_converged", norm.converged},
                                   {"xi", m.xi ? json(*m.xi) : json(nullptr)}, {"upper", m.upper}};
    // Width p: M_b is a set of d x p factors (a Gram state is factored to that width).
    metrics.push_back(std::make_shared<ManifoldDistanceMetric>(norm.value, m.xi, m.upper, m.projection,
                                                                config.init.width));
  }
  if (o.licq.enabled) metrics.push_back(std::make_shared<LicqMetric>(o.licq.eigen));
  if (o.best_rank.s_max > 0) {
    const auto solutions = best_rank_solutions(loss, o.best_rank.s_max, o.best_rank.options);
    std::vector<Matrix> factors;
    json certificates = json::array();
    for (const auto& z : solutions) {
      factors.push_back(z.factor);
      certificates.push_back({{"s", z.s}, {"training_error", z.training_error},
                              {"relative_gradient", z.relative_gradient}, {"hessian_min", z.hessian.min},
                              {"value_spread", z.value_spread}, {"agreeing_starts", z.agreeing_starts},
                              {"starts", z.starts}, {"certified", z.certified}, {"degenerate", z.degenerate},
                              {"message", z.message}});
    }
    record["best_rank"] = certificates;
    metrics.push_back(std::make_shared<BestRankDistanceMetric>(std::move(factors)));
  }
  if (o.relative_error > 0) metrics.push_back(std::make_shared<RelativeErrorMetric>(problem.planted, o.relative_error));
  if (o.gram_spectrum > 0) metrics.push_back(std::make_shared<GramSpectrumMetric>(o.gram_spectrum));
  if (o.energy_identity) metrics.push_back(std::make_shared<EnergyIdentityMetric>());
  if (o.singular_value_law.k > 0)
    metrics.push_back(std::make_shared<SingularValueLawMetric>(o.singular_value_law.k, o.singular_value_law.floor));
  return record;
}

std::string shape(Index rows, Index cols) { return std::to_string(rows) + " x " + std::to_string(cols); }

}  // namespace

FlowChoice choose_flow(const FlowConfig& flow, const Matrix& U0) {
  FlowChoice c;
  c.type = flow.type;
  const Index d = U0.rows(), p = U0.cols();
  if (flow.type == FlowKind::gram) {
    c.record = {{"integrated", "gram"},
                {"state", shape(d, d)},
                {"reason", "flow.type = gram: the X flow (30) of paper 000 from X(0) = U0 U0^T"}};
    return c;
  }
  c.reduction = reduce_initial_factor(U0, flow.reduced_rank_tol);
  const Index r0 = c.reduction.rank;
  c.record = {{"rank_U0", r0}, {"width", p}, {"reduced_rank_tol", flow.reduced_rank_tol}};
  if (flow.reduced == ReducedChoice::off) {
    c.record["integrated"] = "factor";
    c.record["state"] = shape(d, p);
    c.record["reason"] = "flow.reduced = off: the full d x p factor flow";
  } else if (c.reduction.reduces()) {
    c.reduced = true;
    c.record["integrated"] = "reduced";
    c.record["state"] = shape(d, r0);
    c.record["reason"] = "flow.reduced = auto and rank(U0) = " + std::to_string(r0) + " < p = " +
                         std::to_string(p) + ": the exact reduced flow L' = -grad G_c(L), U(t) = L(t) R^T "
                         "(flow/reduced_flow.hpp); its products with the state cost r0/p of the full ones";
    c.record["discarded"] = c.reduction.discarded;
  } else {
    c.record["integrated"] = "factor";
    c.record["state"] = shape(d, p);
    c.record["reason"] = "flow.reduced = auto but rank(U0) = p = " + std::to_string(p) + ": nothing to reduce";
  }
  return c;
}

Experiment build_experiment(const RunConfig& config) {
  Problem problem = make_data(config, build_operator(config.op, config.dim));
  if (config.noise.sigma > 0) add_noise(problem, config.noise.sigma, config.noise.seed);
  SensingLoss loss(problem, config.loss.c, config.loss.operator_form);
  const double h = config.loss.gd_step();

  std::vector<std::shared_ptr<Metric>> metrics = {
      std::make_shared<TimeMetric>(), std::make_shared<GdIterationMetric>(h, config.stepper.gd, config.times.times,
                                                                     config.times.time_iterations),
      std::make_shared<StepperStatsMetric>(), std::make_shared<TrainingErrorMetric>(),
      std::make_shared<TestErrorMetric>(problem.planted), std::make_shared<RankMetric>(config.observe.rank_tol)};
  if (config.observe.singular_values > 0)
    metrics.push_back(std::make_shared<SingularValuesMetric>(config.observe.singular_values));
  json observers = add_theory_metrics(config, problem, loss, metrics);

  Matrix initial = make_initial(config);
  FlowChoice flow = choose_flow(config.flow, initial);
  return Experiment{std::move(problem),
                    std::move(loss),
                    std::move(initial),
                    config.stepper.options,
                    config.times.times,
                    h,
                    std::move(metrics),
                    snapshot_kind(config.observe.snapshots),
                    std::move(flow),
                    std::move(observers)};
}

std::vector<std::shared_ptr<StopRule>> make_stop_rules(const RunConfig& config, const SensingLoss& loss) {
  const StopConfig& s = config.stop;
  const StateKind kind = config.flow.type == FlowKind::gram ? StateKind::gram : StateKind::factor;
  std::vector<std::shared_ptr<StopRule>> rules;
  if (s.training_error_below)
    rules.push_back(std::make_shared<TrainingErrorBelow>(loss, kind, *s.training_error_below,
                                                         s.training_error_relative, s.training_error_every));
  if (s.stagnation_window)
    rules.push_back(std::make_shared<Stagnation>(loss, kind, *s.stagnation_window, s.stagnation_tolerance));
  if (s.max_steps || s.max_rhs || s.max_seconds > 0)
    rules.push_back(std::make_shared<Budget>(s.max_steps, s.max_rhs, s.max_seconds));
  if (s.max_state_norm) rules.push_back(std::make_shared<NormAbove>(*s.max_state_norm));
  if (s.crawl_min_mean_step && !config.times.times.empty() && config.times.times.back() > 0)
    rules.push_back(std::make_shared<Crawl>(config.times.times.back(), s.crawl_window, *s.crawl_min_mean_step,
                                            s.crawl_min_steps_left));
  return rules;
}

namespace {

/// Integrates `flow` from `state`, handing every observation to `observe`;
/// a reduced factor run hands U = L R^T to it.
template <class Flow>
Summary integrate_observed(Flow& flow, Matrix& state, const Experiment& e, const Observer& observe, Watch watch,
                           const Matrix* R) {
  if (R) watch.observe = expanding_observer(observe, *R);
  else watch.observe = observe;
  return integrate(flow, state, e.times, e.options, watch);
}

/// Runs `choice` from U0 and returns the end state (U, or X for gram).
Summary integrate_choice(const FlowChoice& choice, const Experiment& e, const Observer& observe, const Watch& watch,
                         Matrix& final_state) {
  if (choice.type == FlowKind::gram) {
    GramFlow flow(e.loss);
    Matrix X = e.initial * e.initial.transpose();
    const Summary s = integrate_observed(flow, X, e, observe, watch, nullptr);
    final_state = std::move(X);
    return s;
  }
  FactorFlow flow(e.loss);
  Matrix state = choice.reduced ? choice.reduction.L : e.initial;
  const Summary s = integrate_observed(flow, state, e, observe, watch, choice.reduced ? &choice.reduction.R : nullptr);
  final_state = choice.reduced ? expand_factor(state, choice.reduction.R) : std::move(state);
  return s;
}

}  // namespace

RunResult run(const RunConfig& config, const RunHooks& hooks) {
  Experiment e = build_experiment(config);
  RunResult result;
  result.flow = e.flow.record;
  result.observers = e.observers;

  // gram_gap: the other flow first, its X(t) at every observation time.
  if (config.flow.gram_gap) {
    FlowConfig other = config.flow;
    other.type = config.flow.type == FlowKind::gram ? FlowKind::factor : FlowKind::gram;
    const FlowChoice reference = choose_flow(other, e.initial);
    std::vector<double> times;
    std::vector<Matrix> grams;
    Watch watch;
    watch.cancel = hooks.cancel;
    const Observer keep = [&](const Matrix& state, const StepInfo& info) {
      times.push_back(info.t);
      grams.push_back(gram_of(state, reference.state_kind()));
    };
    Matrix end;
    const Summary s = integrate_choice(reference, e, keep, watch, end);
    result.flow["gram_gap_reference"] = {{"flow", reference.record}, {"summary", to_json(s)}};
    e.metrics.push_back(std::make_shared<GramGapMetric>(std::move(times), std::move(grams)));
  }

  const StateKind kind = e.flow.state_kind();
  Recorder recorder(e.loss, kind, e.metrics, e.gd_step, e.snapshots);
  const std::size_t train_col = static_cast<std::size_t>(
      std::find(recorder.trajectory().columns.begin(), recorder.trajectory().columns.end(), "training_error") -
      recorder.trajectory().columns.begin());
  double last_training_error = std::numeric_limits<double>::quiet_NaN();

  Watch watch;
  const Observer observe = [&](const Matrix& state, const StepInfo& info) {
    recorder.record(state, info);
    last_training_error = recorder.trajectory().rows.back()[train_col];
  };
  watch.stop_rules = make_stop_rules(config, e.loss);
  watch.cancel = hooks.cancel;
  if (hooks.progress)
    watch.progress = [&](const StepInfo& info, double t_end) {
      hooks.progress(RunProgress{info, t_end, e.gd_step, last_training_error});
    };

  for (const auto& rule : watch.stop_rules) result.stop_rules.push_back(rule->describe());
  result.gd_step = e.gd_step;
  const Summary summary = integrate_choice(e.flow, e, observe, watch, result.final_state);
  result.operator_form = e.loss.operator_form_report();
  recorder.finish(summary);
  result.trajectory = recorder.take();
  result.operator_name = e.problem.op->name();
  result.measurements = e.problem.measurements();
  result.operator_bytes = operator_storage_bytes(*e.problem.op);
  result.noise_energy = noise_energy(e.problem);
  result.peak_memory_bytes = peak_resident_bytes();
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
      {"flow", result.flow},
      {"observers", result.observers},
      {"stop_rules", result.stop_rules},
      {"operator_form", result.operator_form},
      {"trajectory", {{"file", "trajectory.csv"}, {"columns", tr.columns}, {"rows", tr.rows.size()}}},
      {"final", final_values},
      {"snapshots", {{"kind", to_string(config.observe.snapshots)}, {"files", snapshots}}},
      {"problem",
       {{"operator", result.operator_name},
        {"measurements", result.measurements},
        {"operator_bytes", result.operator_bytes},
        {"noise_sigma", config.noise.sigma},
        {"noise_energy", result.noise_energy}}},
      {"resources",
       {{"peak_memory_bytes", result.peak_memory_bytes},
        {"peak_memory_source", "VmHWM of /proc/self/status: the process' peak resident memory up to the end of the run"},
        {"seconds_per_rhs", s.last.rhs > 0 ? json(s.wall_seconds / static_cast<double>(s.last.rhs)) : json(nullptr)},
        {"seconds_per_rhs_note", "wall time of the integration / right-hand sides, observations included"}}},
  });
  for (auto it = extra.begin(); it != extra.end(); ++it) manifest[it.key()] = it.value();
  write_json((fs::path(dir) / "manifest.json").string(), manifest);
  return manifest;
}

}  // namespace flowsense
