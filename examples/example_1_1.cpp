// Example 1.1 of paper 000 (Eftekhari & Zygalakis, "Limitations of implicit
// bias in matrix sensing: initialization rank matters"), redrawn in one
// command:
//
//   example_1_1 --out results/example_1_1
//
// d = 30, X♮ random PSD of rank 2 and trace 1, a symmetric Gaussian operator
// (upper triangles iid N(0, 1), unit scale) with m = 4 rank(X♮) d = 240, and
// the paper's gradient descent (3) U <- U - eta grad ||A(UU^T) - b||^2 with
// eta = 1e-4, started from generic U0 (d x d) of rank 2 or 30 and Frobenius
// norm 1e-3, 1 or 1e3 (Figures 1-3), three trials each. Every trial runs twice:
//   - "gd":   explicit Euler on U' = -grad G_c, c = 1/4, with step h = 8 eta,
//             which is exactly the update (3) (loss/sensing_loss.hpp, gd_step);
//   - "flow": the gradient flow (1) itself, integrated by dopri5 and observed at
//             the same flow times t = k h, so both are drawn against the GD
//             iteration k.
// Outputs (all written atomically) under --out: runs/<run>/trajectory.csv,
// aggregate.csv (mean and half a standard deviation over the trials),
// manifest.json, and example_1_1.png drawn by scripts/plot_example_1_1.py.
// docs/example_1_1.md explains the choices and the results.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/stop_rules.hpp"
#include "flowsense/io/atomic_file.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "flowsense/version.hpp"

namespace fs = flowsense;
using fs::Index;
using fs::Matrix;

namespace {

// ---- the experiment's parameters --------------------------------------------------

struct Settings {
  // Paper 000, Example 1.1.
  Index d = 30;
  Index planted_rank = 2;
  Index m = 4 * 2 * 30;  // 4 rank(X♮) d
  double c = fs::loss_constant::paper000;
  double eta = 1e-4;
  Index width = 30;  // p: U is d x p = d x d as in the paper
  std::vector<Index> init_ranks = {2, 30};
  std::vector<double> init_norms = {1e-3, 1.0, 1e3};
  int trials = 3;

  // Our choices (docs/example_1_1.md says why).
  long iterations = 100000;   // horizon K in GD iterations
  int grid_points = 160;      // log-spaced observation iterations in [1, K]
  double rtol = 1e-12;        // dopri5: tight enough that the flow, like GD,
  double atol = 1e-16;        // reaches the round-off floor (1e-10 stalls at ~1e-22)
  double target = 1e-27;      // stop: training error below this (absolute)
  int target_every_gd = 10;   // GD checks the target every 10 iterations
  long stagnation_window = 1000;    // stop: in GD iterations of flow time ...
  double stagnation_tol = 1e-3;     // ... if the training error fell by less
  double max_norm = 1e8;      // stop: ||U||_F above this counts as divergence
  std::uint64_t crawl_window = 1000;        // stop (flow): if over 1000-step windows
  double crawl_steps_per_iteration = 1000;  // it needs > 1000 steps per GD iteration
  double crawl_min_projected = 1e6;         // and > 1e6 steps to the horizon
  int sub_iteration_points = 25;  // the flow is also observed at k in [1e-5, 1)
  double rank_tol = 1e-8;     // numerical rank of U, relative to sigma_1(U)
  int singular_values = 4;    // leading singular values of U recorded

  std::uint64_t operator_seed = 1;
  std::uint64_t planted_seed = 2;
  std::uint64_t init_seed = 3;

  int threads = 2;
  std::string out = "results/example_1_1";
  bool plot = true;
  std::string plot_script = "scripts/plot_example_1_1.py";
};

struct RunSpec {
  std::string method;  // "gd" or "flow"
  Index rank;
  double norm;
  int trial;
  std::uint64_t seed;
  std::string name;  // directory name under runs/
};

struct RunResult {
  fs::Trajectory trajectory;
  double initial_norm = 0;
  double radius_initial = 0;  ///< rho(Hessian of G_c) at U0
  double radius_final = 0;    ///< ... and where the run ended
};

/// The spectral radius of the Hessian of G_c at U (a symmetric operator on
/// d x p matrices, loss/sensing_loss.hpp), by 200 power iterations from a
/// seeded start: a lower estimate, good to a few digits here. Explicit
/// Euler (= GD) on the flow is stable near U only if h * rho < 2, and an
/// explicit adaptive stepper is held to steps of about 3.3 / rho (dopri5).
double hessian_radius(const fs::SensingLoss& loss, const Matrix& U, std::uint64_t seed) {
  fs::Rng rng(seed);
  Matrix V = rng.normal_matrix(U.rows(), U.cols());
  V /= V.norm();
  Matrix HV;
  double rho = 0;
  for (int i = 0; i < 200; ++i) {
    loss.hessian_vector(U, V, HV);
    rho = HV.norm();
    if (!(rho > 0) || !std::isfinite(rho)) return rho;
    V = HV / rho;
  }
  return rho;
}

std::string norm_label(double norm) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0e", norm);
  return buf;
}

std::string format(double x, const char* spec = "%.3e") {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, x);
  return buf;
}

/// A GD iteration count as people write it: 1480, or 0.044 below 10.
std::string iteration_label(double k) { return format(k, k < 10 ? "%.2g" : "%.0f"); }

// ---- command line -------------------------------------------------------------------

void print_help() {
  std::cout <<
      R"(example_1_1: Example 1.1 of Eftekhari & Zygalakis (paper 000) with GD and the flow.

usage: example_1_1 [--out DIR] [--iterations K] [--threads N] [--rtol R]
                   [--atol A] [--no-plot] [--plot-script PATH]

  --out DIR           output directory (default results/example_1_1)
  --iterations K      horizon in GD iterations, K >= 10 (default 100000)
  --threads N         worker threads, N >= 1 (default 2); results do not
                      depend on N: every run has its own seed
  --rtol R, --atol A  dopri5 tolerances of the flow runs (default 1e-12, 1e-16)
  --no-plot           do not call the plotting script
  --plot-script PATH  default scripts/plot_example_1_1.py (relative to the
                      working directory); run by /usr/bin/python3 if present
  --help              this text
)";
}

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "example_1_1: " << message << "\n(run with --help for usage)\n";
  std::exit(2);
}

long parse_integer(const std::string& option, const std::string& text, long lo, long hi) {
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value < lo || value > hi)
    usage_error(option + ": expected an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + text + "'");
  return value;
}

double parse_positive(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !(value > 0) || !std::isfinite(value))
    usage_error(option + ": expected a positive number, got '" + text + "'");
  return value;
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + ": expected a value after it");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      print_help();
      std::exit(0);
    } else if (a == "--out") {
      s.out = value();
      if (s.out.empty()) usage_error("--out: expected a directory, got an empty string");
    } else if (a == "--iterations") {
      s.iterations = parse_integer(a, value(), 10, 100000000);
    } else if (a == "--threads") {
      s.threads = static_cast<int>(parse_integer(a, value(), 1, 256));
    } else if (a == "--rtol") {
      s.rtol = parse_positive(a, value());
    } else if (a == "--atol") {
      s.atol = parse_positive(a, value());
    } else if (a == "--no-plot") {
      s.plot = false;
    } else if (a == "--plot-script") {
      s.plot_script = value();
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  return s;
}

// ---- one run -----------------------------------------------------------------------

/// Observation iterations: 0 and about `n` log-spaced integers in [1, K]; for
/// the flow also `sub` log-spaced points in [1e-5, 1), where the flow from a
/// far initialization does most of its work (GD only exists at integers).
std::vector<double> observation_iterations(long K, int n, int sub) {
  std::vector<double> k = {0.0};
  for (int i = 0; i < sub; ++i) k.push_back(std::pow(10.0, -5.0 + 5.0 * i / sub));
  for (int i = 0; i < n; ++i) {
    const double x = std::round(std::pow(static_cast<double>(K), static_cast<double>(i) / (n - 1)));
    if (x > k.back()) k.push_back(x);
  }
  k.back() = static_cast<double>(K);
  return k;
}

/// Ends an adaptive run that has slowed to a crawl. Every `window` accepted
/// steps it measures the mean step over that window; it stops the run if,
/// twice in a row, (i) the pace has stopped growing (less than doubled since
/// the previous window), (ii) it takes more than `max_steps_per_iteration`
/// steps per GD iteration, and (iii) the horizon is more than `min_projected`
/// steps away at that pace. An explicit stepper pinned at its stability limit
/// (h ~ 3.3 / rho, rho the Hessian's spectral radius) is the case it is for; a
/// flow that is speeding up (a far rank-2 start shrinking towards X♮, where h
/// grows like t) is left alone. A deterministic budget, unlike wall time, so
/// the results do not depend on the machine or the thread count.
class CrawlBudget : public fs::StopRule {
public:
  CrawlBudget(double t_end, double gd_step, std::uint64_t window, double max_steps_per_iteration,
              double min_projected)
      : t_end_(t_end), gd_step_(gd_step), window_(window),
        max_steps_per_iteration_(max_steps_per_iteration), min_projected_(min_projected) {}

  std::optional<fs::StopReason> check(const Matrix&, const fs::StepInfo& info) override {
    if (info.steps % window_ != 0) return std::nullopt;
    const double pace = (info.t - t_window_start_) / static_cast<double>(window_);
    const double projected = (t_end_ - info.t) / pace;
    const bool crawling = previous_pace_ > 0 && pace < 2 * previous_pace_ &&
                          gd_step_ / pace > max_steps_per_iteration_ && projected > min_projected_;
    strikes_ = crawling ? strikes_ + 1 : 0;
    t_window_start_ = info.t;
    previous_pace_ = pace;
    if (strikes_ < 2) return std::nullopt;
    std::ostringstream s;
    s.precision(3);
    s << "the mean step over the last " << window_ << " steps was " << pace << " ("
      << gd_step_ / pace << " steps per GD iteration) at t = " << info.t << " (step " << info.steps
      << "); reaching t = " << t_end_ << " would need about " << projected << " more steps";
    return fs::StopReason{fs::Termination::budget_exhausted, s.str()};
  }

  std::string describe() const override {
    std::ostringstream s;
    s << "over " << window_ << "-step windows, twice in a row: the pace no longer doubling, more than "
      << max_steps_per_iteration_ << " steps per GD iteration, and more than " << min_projected_
      << " steps left to the horizon (budget_exhausted)";
    return s.str();
  }

private:
  double t_end_, gd_step_;
  std::uint64_t window_;
  double max_steps_per_iteration_, min_projected_;
  double t_window_start_ = 0.0, previous_pace_ = 0.0;
  int strikes_ = 0;
};

/// The stop rules of one run (the same for GD and the flow, except where said).
std::vector<std::shared_ptr<fs::StopRule>> stop_rules(const Settings& s, const fs::SensingLoss& loss,
                                                      bool gd, double h) {
  std::vector<std::shared_ptr<fs::StopRule>> rules = {
      // Machine precision reached. GD checks every 10 iterations (a check
      // costs half a right-hand side; GD does one per iteration), the flow
      // after every step (it does six right-hand sides per step).
      std::make_shared<fs::TrainingErrorBelow>(loss, fs::StateKind::factor, s.target, false,
                                               gd ? s.target_every_gd : 1),
      // No more progress: the flow's own accuracy floor (set by rtol/atol),
      // well above the round-off floor that GD reaches.
      std::make_shared<fs::Stagnation>(loss, fs::StateKind::factor, s.stagnation_window * h,
                                       s.stagnation_tol),
      std::make_shared<fs::NormAbove>(s.max_norm)};
  // The flow from a far full-rank start lands on M_b within 0.05 iterations,
  // where lambda_max(Hessian) ~ 1e8 pins an explicit stepper at h ~ 3e-8:
  // this budget ends it (docs/example_1_1.md).
  if (!gd)
    rules.push_back(std::make_shared<CrawlBudget>(static_cast<double>(s.iterations) * h, h,
                                                  s.crawl_window, s.crawl_steps_per_iteration,
                                                  s.crawl_min_projected));
  return rules;
}

RunResult run_one(const Settings& s, const RunSpec& spec, const fs::SensingLoss& loss,
                  const Matrix& planted, const std::vector<double>& times, double h) {
  const bool gd = spec.method == "gd";
  Matrix U = fs::random_factor(s.d, s.width, spec.rank, spec.norm, spec.seed);
  RunResult result;
  result.initial_norm = U.norm();

  fs::FactorFlow flow(loss);
  fs::Recorder recorder(loss, fs::StateKind::factor,
                        fs::standard_metrics(&planted, s.rank_tol, s.singular_values), h);
  fs::Watch watch;
  watch.observe = recorder.observer();
  watch.stop_rules = stop_rules(s, loss, gd, h);

  fs::IntegrateOptions options;
  if (gd) {
    options.stepper = fs::StepperKind::euler;
    options.step = h;  // Euler with h = 8 eta is the paper's update (3)
  } else {
    options.stepper = fs::StepperKind::dopri5;
    options.rtol = s.rtol;
    options.atol = s.atol;
    // The first trial step: the flow's stiffness grows like ||U||^2 (the
    // Hessian is 2c A*A(U . + . U^T) U + ...), so start at h / max(1, ||U0||^2)
    // and let the controller grow it. A far too large first step can overflow
    // in a trial stage, and odeint accepts a NaN error estimate.
    options.step = h / std::max(1.0, result.initial_norm * result.initial_norm);
  }
  result.radius_initial = hessian_radius(loss, U, spec.seed + 1);
  fs::Summary summary = fs::integrate(flow, U, times, options, watch);
  result.radius_final = hessian_radius(loss, U, spec.seed + 2);
  recorder.finish(summary);
  result.trajectory = recorder.take();
  return result;
}

// ---- aggregation ------------------------------------------------------------------

struct Stats {
  double mean = 0, half_std = 0;
};

/// Mean and half the sample standard deviation (n - 1), as the paper draws.
Stats stats(const std::vector<double>& x) {
  Stats s;
  if (x.empty()) return {NAN, NAN};
  for (double v : x) s.mean += v;
  s.mean /= static_cast<double>(x.size());
  if (x.size() > 1) {
    double ss = 0;
    for (double v : x) ss += (v - s.mean) * (v - s.mean);
    s.half_std = 0.5 * std::sqrt(ss / static_cast<double>(x.size() - 1));
  }
  return s;
}

/// The row of `t` whose iteration equals k, or -1.
long row_at(const fs::Trajectory& t, double k) {
  const auto it = std::find(t.columns.begin(), t.columns.end(), "iteration");
  const auto j = static_cast<std::size_t>(it - t.columns.begin());
  for (std::size_t r = 0; r < t.rows.size(); ++r)
    if (std::abs(t.rows[r][j] - k) < 1e-6 * std::max(1.0, k)) return static_cast<long>(r);
  return -1;
}

double value_at(const fs::Trajectory& t, long row, const std::string& column) {
  const auto it = std::find(t.columns.begin(), t.columns.end(), column);
  return t.rows[static_cast<std::size_t>(row)][static_cast<std::size_t>(it - t.columns.begin())];
}

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse(argc, argv);
  const double h = fs::gd_step(s.eta, fs::gd_objective_weight::paper000, s.c);  // 8 eta
  const std::vector<double> flow_iterations =
      observation_iterations(s.iterations, s.grid_points, s.sub_iteration_points);
  std::vector<double> gd_iterations, gd_times, flow_times;
  for (double k : flow_iterations) {
    flow_times.push_back(k * h);
    if (k == std::round(k)) {
      gd_iterations.push_back(k);
      gd_times.push_back(k * h);
    }
  }

  // The problem: the same A and X♮ for every run.
  auto op = std::make_shared<fs::GaussianOperator>(s.d, s.m, fs::GaussianScale::unit,
                                                   s.operator_seed);
  const Matrix planted = fs::planted_trace_one(s.d, s.planted_rank, s.planted_seed);
  const fs::Problem problem = fs::Problem::noiseless(op, planted);
  const fs::SensingLoss loss(problem, s.c);

  // The round-off floor of the training error: ||A(V V^T) - b||^2 at an exact
  // factor V of X♮ (its top eigenpairs) is pure rounding; the target sits a
  // few times above it ("machine precision" in the paper's Figure 2).
  Eigen::SelfAdjointEigenSolver<Matrix> eig(planted);
  const Matrix V = eig.eigenvectors().rightCols(s.planted_rank) *
                   eig.eigenvalues().tail(s.planted_rank).cwiseSqrt().asDiagonal();
  const double floor = loss.training_error(V);

  // The runs, most expensive first so that two threads finish together.
  std::vector<RunSpec> specs;
  for (const std::string method : {"flow", "gd"})
    for (Index rank : {Index{30}, Index{2}})
      for (double norm : s.init_norms)
        for (int trial = 0; trial < s.trials; ++trial) {
          // The same U0 for GD and the flow, and for every norm (only the
          // scale changes); distinct across ranks and trials.
          const std::uint64_t seed =
              fs::Rng::derive_seed(s.init_seed, static_cast<std::uint64_t>(1000 * rank + trial));
          specs.push_back({method, rank, norm, trial, seed,
                           method + "_rank" + std::to_string(rank) + "_norm" + norm_label(norm) +
                               "_trial" + std::to_string(trial + 1)});
        }

  std::cerr << "[example_1_1] flowsense " << fs::version << ": " << specs.size()
            << " runs (d = " << s.d << ", m = " << s.m << ", eta = " << s.eta << ", h = 8 eta = " << h
            << ", K = " << s.iterations << " iterations) on " << s.threads << " thread(s)\n"
            << "[example_1_1] round-off floor of the training error at a factor of X: "
            << format(floor) << "; target " << format(s.target, "%.0e") << "\n";

  std::vector<RunResult> results(specs.size());
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex print;
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < specs.size();) {
      results[i] = run_one(s, specs[i], loss, planted,
                           specs[i].method == "gd" ? gd_times : flow_times, h);
      const auto& summary = results[i].trajectory.summary;
      std::lock_guard<std::mutex> lock(print);
      std::cerr << "[example_1_1] " << ++done << "/" << specs.size() << " " << specs[i].name << ": "
                << fs::to_string(summary.termination) << " at iteration "
                << iteration_label(summary.last.t / h) << " ("
                << format(summary.wall_seconds, "%.1f") << " s)\n";
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < s.threads; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();

  // ---- outputs ----------------------------------------------------------------------
  try {
    fs::create_directories(s.out + "/runs");
    nlohmann::json runs = nlohmann::json::array();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& spec = specs[i];
      const auto& t = results[i].trajectory;
      fs::create_directories(s.out + "/runs/" + spec.name);
      t.write_csv(s.out + "/runs/" + spec.name + "/trajectory.csv");
      runs.push_back({{"name", spec.name},
                      {"method", spec.method},
                      {"stepper", spec.method == "gd" ? "euler" : "dopri5"},
                      {"init_rank", spec.rank},
                      {"init_norm", spec.norm},
                      {"trial", spec.trial + 1},
                      {"init_seed", spec.seed},
                      {"trajectory", "runs/" + spec.name + "/trajectory.csv"},
                      {"final_iteration", t.summary.last.t / h},
                      {"final_training_error", t.final_value("training_error")},
                      {"final_test_error", t.final_value("test_error")},
                      {"final_rank", t.final_value("rank")},
                      {"hessian_spectral_radius_initial", results[i].radius_initial},
                      {"hessian_spectral_radius_final", results[i].radius_final},
                      {"summary", fs::to_json(t.summary)}});
    }

    // Aggregate: per (method, rank, norm, iteration) over the trials that
    // reached that iteration ("trials" says how many).
    std::string csv =
        "method,init_rank,init_norm,iteration,trials,training_error_mean,training_error_half_std,"
        "test_error_mean,test_error_half_std,rank_mean\n";
    for (const std::string method : {"gd", "flow"})
      for (Index rank : s.init_ranks)
        for (double norm : s.init_norms)
          for (double k : flow_iterations) {
            std::vector<double> train, test, rank_values;
            for (std::size_t i = 0; i < specs.size(); ++i) {
              if (specs[i].method != method || specs[i].rank != rank || specs[i].norm != norm)
                continue;
              const auto& t = results[i].trajectory;
              const long r = row_at(t, k);
              if (r < 0) continue;
              train.push_back(value_at(t, r, "training_error"));
              test.push_back(value_at(t, r, "test_error"));
              rank_values.push_back(value_at(t, r, "rank"));
            }
            if (train.empty()) continue;
            const Stats a = stats(train), b = stats(test), c = stats(rank_values);
            csv += method + "," + std::to_string(rank) + "," + format(norm, "%.17g") + "," +
                   format(k, "%.17g") + "," + std::to_string(train.size()) + "," +
                   format(a.mean, "%.17g") + "," + format(a.half_std, "%.17g") + "," +
                   format(b.mean, "%.17g") + "," + format(b.half_std, "%.17g") + "," +
                   format(c.mean, "%.17g") + "\n";
          }
    fs::write_file_atomically(s.out + "/aggregate.csv", csv);

    nlohmann::json rules = {{"gd", nlohmann::json::array()}, {"flow", nlohmann::json::array()}};
    for (const auto& r : stop_rules(s, loss, true, h)) rules["gd"].push_back(r->describe());
    for (const auto& r : stop_rules(s, loss, false, h)) rules["flow"].push_back(r->describe());
    for (auto* m : {&rules["gd"], &rules["flow"]})
      m->push_back("non-finite state: diverged (the driver keeps the last finite state)");
    rules["notes"] = "the target is checked every " + std::to_string(s.target_every_gd) +
                     " GD iterations and after every flow step; the stagnation window is " +
                     std::to_string(s.stagnation_window) + " GD iterations of flow time";
    nlohmann::json config = {
        {"paper", "000 (Eftekhari & Zygalakis), Example 1.1, Figures 1-3"},
        {"d", s.d},
        {"planted", {{"model", "planted_trace_one"}, {"rank", s.planted_rank}, {"seed", s.planted_seed}}},
        {"operator",
         {{"kind", op->name()}, {"scale", "unit"}, {"m", s.m}, {"seed", s.operator_seed}}},
        {"loss_c", s.c},
        {"eta", s.eta},
        {"gd_step_h", h},
        {"width_p", s.width},
        {"init", {{"kind", "random_factor"}, {"ranks", s.init_ranks}, {"norms", s.init_norms},
                  {"trials", s.trials}, {"seed", s.init_seed},
                  {"seed_rule", "derive_seed(seed, 1000 * rank + trial - 1); the same U0 for gd and flow and for every norm"}}},
        {"horizon_iterations", s.iterations},
        {"observation_iterations", {{"gd", gd_iterations}, {"flow", flow_iterations}}},
        {"gd", {{"stepper", "euler"}, {"step", h}}},
        {"flow", {{"stepper", "dopri5"}, {"rtol", s.rtol}, {"atol", s.atol},
                  {"first_step", "h / max(1, ||U0||_F^2)"}}},
        {"stop_rules", rules},
        {"target_training_error", s.target},
        {"rank_tolerance", s.rank_tol},
        {"singular_values", s.singular_values},
        {"threads", s.threads},
        {"aggregate", "mean and half the sample standard deviation (n - 1) over the trials that reached the iteration"}};
    nlohmann::json manifest = fs::make_manifest({{"program", "example_1_1"},
                                                 {"config", config},
                                                 {"training_data_norm_squared", problem.b.squaredNorm()},
                                                 {"training_error_roundoff_floor", floor},
                                                 {"runs", runs}});
    fs::write_json(s.out + "/manifest.json", manifest);
  } catch (const std::exception& e) {
    std::cerr << "example_1_1: cannot write the outputs: " << e.what() << "\n";
    return 1;
  }

  // ---- the table ---------------------------------------------------------------------
  auto final_test = [&](const std::string& method, Index rank, double norm) {
    std::vector<double> v;
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (specs[i].method == method && specs[i].rank == rank && specs[i].norm == norm)
        v.push_back(results[i].trajectory.final_value("test_error"));
    return stats(v);
  };
  std::cout << "\nExample 1.1 (paper 000): d = " << s.d << ", rank(X) = " << s.planted_rank
            << ", m = " << s.m << ", eta = " << s.eta << ", K = " << s.iterations
            << " GD iterations, " << s.trials << " trials per row\n"
            << "gd = the paper's update (3) (Euler, h = 8 eta); flow = dopri5, rtol "
            << format(s.rtol, "%.0e") << ", atol " << format(s.atol, "%.0e") << "\n\n";
  std::printf("%-6s %4s %8s  %-21s %-9s %-20s %-9s %s\n", "method", "rank", "||U0||_F",
              "test error", "train err", "iterations", "rank end", "termination");
  for (const std::string method : {"gd", "flow"})
    for (double norm : s.init_norms)
      for (Index rank : s.init_ranks) {
        const Stats st = final_test(method, rank, norm);
        std::string iters, ranks, terms;
        std::vector<double> train;
        std::vector<std::string> seen;
        std::vector<int> count;
        for (std::size_t i = 0; i < specs.size(); ++i) {
          if (specs[i].method != method || specs[i].rank != rank || specs[i].norm != norm) continue;
          const auto& t = results[i].trajectory;
          iters += (iters.empty() ? "" : "/") + iteration_label(t.summary.last.t / h);
          ranks += (ranks.empty() ? "" : "/") + format(t.final_value("rank"), "%.0f");
          train.push_back(t.final_value("training_error"));
          const std::string term = fs::to_string(t.summary.termination);
          const auto it = std::find(seen.begin(), seen.end(), term);
          if (it == seen.end()) {
            seen.push_back(term);
            count.push_back(1);
          } else {
            ++count[static_cast<std::size_t>(it - seen.begin())];
          }
        }
        for (std::size_t j = 0; j < seen.size(); ++j)
          terms += (j ? ", " : "") + seen[j] + " x" + std::to_string(count[j]);
        std::printf("%-6s %4ld %8s  %-21s %-9s %-20s %-9s %s\n", method.c_str(),
                    static_cast<long>(rank), norm_label(norm).c_str(),
                    (format(st.mean, "%.2e") + " +- " + format(st.half_std, "%.1e")).c_str(),
                    format(stats(train).mean, "%.1e").c_str(), iters.c_str(), ranks.c_str(),
                    terms.c_str());
      }
  std::cout << "(test error: ||UU^T - X||_F^2 at each run's last record, mean +- half std; train err:\n"
               " mean ||A(UU^T) - b||^2 there; iterations: where each trial ended; rank: of U at\n"
               " relative tolerance " << format(s.rank_tol, "%.0e") << ")\n";

  std::cout << "\nThe paper's claim (Figure 2): at ||U0||_F = 1 the rank-2 start ends with a much\n"
               "smaller test error than the rank-30 start. Ratio of the mean final test errors,\n"
               "rank 30 / rank 2 (the claim counts as confirmed if the ratio exceeds 10):\n";
  for (const std::string method : {"gd", "flow"})
    for (double norm : s.init_norms) {
      const double lo = final_test(method, 2, norm).mean, hi = final_test(method, 30, norm).mean;
      std::printf("  %-4s ||U0||_F = %-6s rank 2: %.2e   rank 30: %.2e   ratio %.1e%s\n",
                  method.c_str(), norm_label(norm).c_str(), lo, hi, hi / lo,
                  norm == 1.0 ? (hi > 10 * lo ? "   <- confirmed" : "   <- NOT confirmed") : "");
    }

  // Why GD diverges at 1e3 and what holds the flow's stepper back.
  auto mean_radius = [&](const std::string& method, Index rank, double norm, bool final) {
    std::vector<double> v;
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (specs[i].method == method && specs[i].rank == rank && specs[i].norm == norm)
        v.push_back(final ? results[i].radius_final : results[i].radius_initial);
    return stats(v).mean;
  };
  std::cout << "\nStiffness: h * rho, rho = spectral radius of the Hessian of G_c (mean over the\n"
               "trials; GD = Euler with step h is stable near U only if h * rho < 2):\n";
  std::printf("  %4s %8s  %12s  %16s\n", "rank", "||U0||_F", "at U0", "at the flow's end");
  for (double norm : s.init_norms)
    for (Index rank : s.init_ranks)
      std::printf("  %4ld %8s  %12.3g  %16.3g\n", static_cast<long>(rank), norm_label(norm).c_str(),
                  h * mean_radius("flow", rank, norm, false), h * mean_radius("flow", rank, norm, true));

  // ---- the figure -------------------------------------------------------------------
  const std::string png = s.out + "/example_1_1.png";
  if (!s.plot) {
    std::cout << "\nData in " << s.out << "/ (plot with: /usr/bin/python3 " << s.plot_script << " "
              << s.out << ")\n";
    return 0;
  }
  if (!std::filesystem::exists(s.plot_script)) {
    std::cout << "\nData in " << s.out << "/; no figure: the plotting script " << s.plot_script
              << " was not found (run from the repository root or pass --plot-script)\n";
    return 0;
  }
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  auto quote = [](const std::string& x) {
    std::string q = "'";
    for (char ch : x) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
  };
  const std::string command = python + " " + quote(s.plot_script) + " " + quote(s.out);
  std::cout.flush();
  if (std::system(command.c_str()) == 0 && std::filesystem::exists(png))
    std::cout << "\nFigure: " << png << "\nData:   " << s.out << "/ (aggregate.csv, manifest.json, runs/)\n";
  else
    std::cout << "\nData in " << s.out << "/; the plotting script failed (it needs matplotlib: "
              << "apt-get install python3-matplotlib), the data are complete\n";
  return 0;
}
