// Figures 1 and 2 of paper 003 (incremental learning): the relative errors
// E_s(t) = ||U U^T - X_s X_s^T||_F^2 / ||X_s X_s^T||_F^2 (paper 003 §6) of GD
// from a small initialization U0 = alpha * G (G iid N(0, 1)), beside the flow.
//
//   build/figures_003 --figure 1 --out results/figure_003_1 [--quick] [--no-flow] [--no-plot]
//   build/figures_003 --figure 2 --out results/figure_003_2
//
// Figure 1: d = 50, r* = 5, r = 50 (over-parameterized), alpha in
// {1, 0.1, 0.01, 0.001}, m in {1000, 2000, 5000}, mu = 0.005, T = 10^4 GD steps.
// Figure 2: exact parameterization r = r* = 5, m = 1000, T = 500.
// Sensing: symmetric Gaussian A_i scaled by 1/sqrt(m); loss f = (1/4)||A(Z* - UU^T)||^2
// (c = 1/2, so the GD step mu is the flow step h = mu). The truth
// (--truth): "gaussian" (default) Z* = X X^T with X a d x 5 matrix of iid
// N(0, 1), our reading of the paper's sentence "Z* = XX^T is generated such
// that the entries ..." (cut in our copy); its eigenvalues are ~ d, so the
// visits happen within the first ~100 iterations. "harmonic": X with
// orthogonal columns and eigenvalues 1/s, s = 1..5: from U0 = alpha G the s-th
// direction grows like alpha e^{lambda_s t} and saturates near
// T_s ~ ln(sqrt(lambda_s)/alpha)/lambda_s (t = 6.9, 13, 19, 25, 31 for
// alpha = 1e-3), which spreads the visits over the horizon mu T = 50.
// --quick: d = 20, m in {200, 400}. --m and --alpha run a part of a figure.
// Each run writes runs/<name>.csv and then runs/<name>.json (its summary);
// with --resume, rerunning the same command keeps those runs, and the
// manifest is written once every run is there.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/io/atomic_file.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/observe/theory_metrics.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/trajectory/recorder.hpp"

using namespace flowsense;
using nlohmann::json;

namespace {

struct Case {
  double alpha;
  Index m;
  bool flow;
  std::string name;
};

struct Visit {
  double iteration, value;
};

/// T_s: the observed iteration where E_s is smallest, and that smallest value.
std::vector<Visit> visit_times(const Trajectory& t, int s_max) {
  std::vector<Visit> v;
  const auto it = t.column("iteration");
  for (int s = 1; s <= s_max; ++s) {
    const auto e = t.column("E_" + std::to_string(s));
    const auto k = static_cast<std::size_t>(std::min_element(e.begin(), e.end()) - e.begin());
    v.push_back({it[k], e[k]});
  }
  return v;
}

int usage(const std::string& message, int code) {
  std::fprintf(code ? stderr : stdout,
               "%s\nusage: figures_003 --figure 1|2 --out DIR [--quick] [--no-flow] [--no-plot]\n"
               "                   [--truth gaussian|harmonic] [--m M1,M2,..] [--alpha A1,A2,..] [--threads N] [--resume]\n"
               "  --m, --alpha   run only these m / alpha of the figure (default: all of the paper's)\n"
               "  --threads N    worker threads (default 2); the numbers do not depend on N\n"
               "  --resume       keep the runs an earlier invocation finished in DIR (runs/<name>.json)\n",
               message.c_str());
  return code;
}

/// "1000,5000" -> {1000, 5000}; empty on a malformed list.
std::vector<double> parse_list(const std::string& text) {
  std::vector<double> v;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const double x = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(x > 0)) return {};
    v.push_back(x);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int figure = 1;
  std::string out;
  bool quick = false, flow = true, plot = true;
  std::string truth_kind = "gaussian";
  std::vector<double> only_m, only_alpha;
  int threads = 2;
  bool resume = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--figure" && i + 1 < argc) figure = std::atoi(argv[++i]);
    else if (a == "--m" && i + 1 < argc) {
      only_m = parse_list(argv[++i]);
      if (only_m.empty()) return usage("--m: expected a comma-separated list of positive integers", 2);
    } else if (a == "--alpha" && i + 1 < argc) {
      only_alpha = parse_list(argv[++i]);
      if (only_alpha.empty()) return usage("--alpha: expected a comma-separated list of positive numbers", 2);
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
      if (threads < 1 || threads > 256) return usage("--threads: expected an integer in [1, 256]", 2);
    }
    else if (a == "--out" && i + 1 < argc) out = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--no-flow") flow = false;
    else if (a == "--no-plot") plot = false;
    else if (a == "--resume") resume = true;
    else if (a == "--truth" && i + 1 < argc) truth_kind = argv[++i];
    else if (a == "--help" || a == "-h") return usage("Figures 1 and 2 of paper 003.", 0);
    else return usage("unknown or incomplete argument '" + a + "'", 2);
  }
  if (figure != 1 && figure != 2) return usage("--figure must be 1 or 2", 2);
  if (truth_kind != "gaussian" && truth_kind != "harmonic")
    return usage("--truth must be gaussian or harmonic, got '" + truth_kind + "'", 2);
  if (out.empty()) out = "results/figure_003_" + std::to_string(figure);

  const Index d = quick ? 20 : 50;
  const int r_star = 5;
  Matrix truth;
  if (truth_kind == "harmonic") {
    truth = planted_orthogonal(d, {1.0, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5}, Rng::derive_seed(2023, 2));
  } else {
    const Matrix X = Rng(Rng::derive_seed(2023, 2)).normal_matrix(d, r_star);
    truth = X * X.transpose();
  }
  Eigen::SelfAdjointEigenSolver<Matrix> eig(truth, Eigen::EigenvaluesOnly);
  std::vector<double> eigenvalues;
  for (Index i = d - 1; i >= d - r_star; --i) eigenvalues.push_back(eig.eigenvalues()[i]);
  const Index r = figure == 1 ? d : r_star;
  const double mu = 0.005;
  const double T = figure == 1 ? 10000 : 500;
  std::vector<double> alphas = {1.0, 0.1, 0.01, 0.001};
  std::vector<Index> ms = figure == 1 ? (quick ? std::vector<Index>{200, 400} : std::vector<Index>{1000, 2000, 5000})
                                      : std::vector<Index>{quick ? 400 : 1000};
  if (!only_alpha.empty()) alphas = only_alpha;
  if (!only_m.empty()) {
    ms.clear();
    for (double m : only_m) ms.push_back(static_cast<Index>(std::llround(m)));
  }
  const std::uint64_t seed = 2023;
  const Matrix G = Rng(Rng::derive_seed(seed, 3)).normal_matrix(d, r);  // U0 = alpha G

  std::vector<Case> cases;
  for (Index m : ms)
    for (double alpha : alphas)
      for (bool f : flow ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
        char name[64];
        std::snprintf(name, sizeof name, "m%ld_alpha%g_%s", static_cast<long>(m), alpha, f ? "flow" : "gd");
        cases.push_back({alpha, m, f, name});
      }
  create_directories(out + "/runs");
  std::vector<Trajectory> results(cases.size());
  std::vector<json> summaries(cases.size());
  std::atomic<std::size_t> next{0}, done{0};
  std::mutex print;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < cases.size();) {
      const Case& c = cases[i];
      // Resume: a run whose runs/<name>.json exists (written after its CSV) is kept.
      const std::string stem = out + "/runs/" + c.name;
      if (resume && std::filesystem::exists(stem + ".json") && std::filesystem::exists(stem + ".csv")) {
        results[i] = read_trajectory_csv(stem + ".csv");
        summaries[i] = read_json_file(stem + ".json").at("summary");
        std::lock_guard<std::mutex> lock(print);
        std::fprintf(stderr, "[figures_003] %zu/%zu %s: kept from an earlier run\n", ++done, cases.size(), c.name.c_str());
        continue;
      }
      // One operator per m, the same for every alpha and method.
      auto op = std::make_shared<GaussianOperator>(d, c.m, GaussianScale::inv_sqrt_m, Rng::derive_seed(seed, 1 + 100 * c.m));
      const Problem problem = Problem::noiseless(op, truth);
      SensingLoss loss(problem, 0.5);
      FactorFlow system(loss);
      const double h = gd_step(mu, 0.25, 0.5);  // = mu
      std::vector<std::shared_ptr<Metric>> metrics = {
          std::make_shared<TimeMetric>(), std::make_shared<IterationMetric>(),
          std::make_shared<StepperStatsMetric>(), std::make_shared<TrainingErrorMetric>(),
          std::make_shared<RelativeErrorMetric>(truth, r_star), std::make_shared<RankMetric>(1e-3),
          std::make_shared<SingularValuesMetric>(r_star + 1)};
      Recorder rec(loss, StateKind::factor, metrics, h);
      Matrix U = c.alpha * G;
      IntegrateOptions o;
      o.stepper = c.flow ? StepperKind::dopri5 : StepperKind::euler;
      o.step = h;
      o.rtol = 1e-8;
      o.atol = 1e-14;
      std::vector<double> times = {0.0};
      for (int k = 0; k <= 240; ++k) times.push_back(h * std::round(std::pow(T, k / 240.0)));
      times.erase(std::unique(times.begin(), times.end()), times.end());
      const Summary s = integrate(system, U, times, o, {rec.observer()});
      rec.finish(s);
      results[i] = rec.take();
      results[i].write_csv(stem + ".csv");
      summaries[i] = to_json(s);
      write_json(stem + ".json", {{"name", c.name}, {"summary", summaries[i]}});
      std::lock_guard<std::mutex> lock(print);
      std::fprintf(stderr, "[figures_003] %zu/%zu %s: %s (%.1f s)\n", ++done, cases.size(), c.name.c_str(),
                   to_string(s.termination).c_str(), s.wall_seconds);
    }
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  std::printf("Paper 003, Figure %d (d = %ld, r = %ld, mu = %g, T = %g GD steps%s)\n", figure, static_cast<long>(d),
              static_cast<long>(r), mu, T, quick ? ", quick" : "");
  std::printf("%-26s %-44s %-10s %s\n", "run", "visit times T_s (iteration of min E_s)", "ordered", "min E_s");
  json runs = json::array();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto v = visit_times(results[i], r_star);
    bool ordered = true;
    std::string ts, mins;
    json visits = json::array();
    for (int s = 0; s < r_star; ++s) {
      char b[32];
      std::snprintf(b, sizeof b, "%.0f ", v[s].iteration);
      ts += b;
      std::snprintf(b, sizeof b, "%.1e ", v[s].value);
      mins += b;
      if (s > 0 && !(v[s].iteration > v[s - 1].iteration)) ordered = false;
      visits.push_back({{"s", s + 1}, {"iteration", v[s].iteration}, {"min_E", v[s].value}});
    }
    std::printf("%-26s %-44s %-10s %s\n", cases[i].name.c_str(), ts.c_str(), ordered ? "yes" : "no", mins.c_str());
    runs.push_back({{"name", cases[i].name}, {"alpha", cases[i].alpha}, {"m", cases[i].m},
                    {"method", cases[i].flow ? "flow (dopri5, rtol 1e-8)" : "gd (euler, h = mu)"},
                    {"csv", "runs/" + cases[i].name + ".csv"}, {"visits", visits}, {"ordered", ordered},
                    {"summary", summaries[i]}});
  }
  write_json(out + "/manifest.json",
             make_manifest({{"figure", "paper 003, Figure " + std::to_string(figure)},
                            {"setting", {{"d", d}, {"r_star", r_star}, {"r", r}, {"mu", mu}, {"T", T},
                                         {"alphas", alphas}, {"ms", ms}, {"truth", truth_kind}, {"eigenvalues", eigenvalues},
                                         {"scale", "1/sqrt(m)"}, {"c", 0.5}, {"quick", quick}}},
                            {"seeds", {{"seed", seed}, {"operator", "derive_seed(seed, 1 + 100 m)"},
                                       {"planted", "derive_seed(seed, 2)"}, {"init", "derive_seed(seed, 3)"}}},
                            {"runs", runs}}));
  if (plot) {
    const std::string cmd = "/usr/bin/python3 scripts/plot_figures_003.py " + out;
    if (std::system(cmd.c_str()) == 0) std::printf("figure: %s/figure.png\n", out.c_str());
    else std::fprintf(stderr, "[figures_003] plotting failed (needs python3-matplotlib); data is in %s\n", out.c_str());
  }
  return 0;
}
