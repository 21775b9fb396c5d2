// Example 1.1 of paper 000 (Eftekhari & Zygalakis, "Limitations of implicit
// bias in matrix sensing: initialization rank matters"), Figures 1-3, in one
// command:
//
//   example_1_1 --out results/example_1_1        (bash scripts/run.sh main)
//
// A thin wrapper over the sweep examples/sweeps/example_1_1.json, which says
// everything about the runs: d = 30, X♮ random PSD of rank 2 and trace 1, a
// symmetric Gaussian operator with m = 4 rank(X♮) d = 240, the paper's GD (3)
// with eta = 1e-4 (explicit Euler with h = 8 eta on G_c, c = 1/4) and the
// gradient flow (1) it discretizes (the `auto` stepper), from starts of rank 2
// and 30 and norm 1e-3, 1, 1e3, three seeded trials each. The very same runs
// come from `flowsense sweep examples/sweeps/example_1_1.json --out DIR`; this
// program adds what is specific to the example: the table against the
// paper's claim, the stiffness h * rho of GD at U0 and at the flow's end, and
// the figure (scripts/plot_example_1_1.py). Rerunning it resumes: finished
// runs are kept. docs/example_1_1.md explains the choices and the results.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/run.hpp"
#include "flowsense/experiment/sweep.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/version.hpp"

namespace fs = flowsense;
using nlohmann::json;

namespace {

struct Settings {
  std::string sweep = "examples/sweeps/example_1_1.json";
  std::string out = "results/example_1_1";
  long iterations = 0;  // 0: the sweep file's horizon
  int threads = 2;
  bool plot = true;
  std::string plot_script = "scripts/plot_example_1_1.py";
};

void print_help() {
  std::cout <<
      R"(example_1_1: Example 1.1 of Eftekhari & Zygalakis (paper 000), GD and the flow.

usage: example_1_1 [--out DIR] [--sweep FILE] [--iterations K] [--threads N]
                   [--no-plot] [--plot-script PATH]

  --out DIR           output directory (default results/example_1_1); rerunning
                      into the same DIR resumes (finished runs are kept)
  --sweep FILE        the sweep (default examples/sweeps/example_1_1.json)
  --iterations K      horizon in GD iterations, K >= 10 (default: the sweep's, 1e5)
  --threads N         worker threads, N >= 1 (default 2); results do not
                      depend on N: every run has its own seed
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
    usage_error(option + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                text + "'");
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
    } else if (a == "--sweep") {
      s.sweep = value();
    } else if (a == "--iterations") {
      s.iterations = parse_integer(a, value(), 10, 100000000);
    } else if (a == "--threads") {
      s.threads = static_cast<int>(parse_integer(a, value(), 1, 256));
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

std::atomic<bool> cancel{false};
extern "C" void on_signal(int) { cancel.store(true); }

std::string format(double x, const char* spec = "%.3e") {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, x);
  return buf;
}

/// A GD iteration count as people write it: 1480, or 0.044 below 10.
std::string iteration_label(double k) { return format(k, k < 10 ? "%.2g" : "%.0f"); }

std::string method_of(const json& stepper) { return stepper.value("type", std::string("?")); }

/// The spectral radius of the Hessian of G_c at U (a symmetric operator on
/// d x p matrices, loss/sensing_loss.hpp), by 200 power iterations from a
/// seeded start: a lower estimate, good to a few digits here. Explicit Euler
/// (= GD) is stable near U only if h * rho < 2.
double hessian_radius(const fs::SensingLoss& loss, const fs::Matrix& U, std::uint64_t seed) {
  fs::Rng rng(seed);
  fs::Matrix V = rng.normal_matrix(U.rows(), U.cols());
  V /= V.norm();
  fs::Matrix HV;
  double rho = 0;
  for (int i = 0; i < 200; ++i) {
    loss.hessian_vector(U, V, HV);
    rho = HV.norm();
    if (!(rho > 0) || !std::isfinite(rho)) return rho;
    V = HV / rho;
  }
  return rho;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse(argc, argv);
  fs::SweepSpec spec;
  try {
    json j = fs::read_json_file(s.sweep);
    if (s.iterations > 0) fs::set_field(j, "base.times.last", s.iterations);
    spec = fs::parse_sweep(j, std::filesystem::absolute(s.sweep).parent_path().string());
  } catch (const std::exception& e) {
    usage_error(s.sweep + ": " + e.what());
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  const auto runs = fs::expand_sweep(spec);
  const fs::RunConfig base = fs::parse_config(runs.front().config, spec.base_dir);
  const double h = base.loss.gd_step();
  std::cerr << "[example_1_1] flowsense " << fs::version << ": " << s.sweep << ", " << runs.size() << " runs on "
            << s.threads << " thread(s) into " << s.out << " (finished runs there are kept)\n";

  fs::SweepOptions options;
  options.threads = s.threads;
  options.cancel = &cancel;
  std::size_t printed = 0;
  options.progress = [&](const fs::SweepProgress& p) {
    if (p.done + p.interrupted == printed || p.last_finished.empty()) return;
    printed = p.done + p.interrupted;
    std::cerr << "[example_1_1] " << p.done << "/" << p.total << " " << p.last_finished << " (" << p.running
              << " running, " << p.failed << " failed, ~" << format(std::max(0.0, p.eta_seconds), "%.0f")
              << " s left)\n";
  };
  fs::SweepReport report;
  std::vector<fs::PointSummary> points;
  try {
    report = fs::run_sweep(spec, s.out, options);
    points = fs::aggregate_sweep(spec, s.out);
  } catch (const std::exception& e) {
    std::cerr << "example_1_1: " << e.what() << "\n";
    return 2;
  }
  if (report.cancelled || report.failed > 0) {
    std::cerr << "example_1_1: " << report.skipped + report.completed << "/" << report.total
              << " runs complete; run the same command again to finish\n";
    return 1;
  }

  // ---- the table ---------------------------------------------------------------------
  std::map<std::tuple<std::string, long, double>, const fs::PointSummary*> by_key;
  std::vector<std::string> methods;
  std::vector<long> ranks;
  std::vector<double> norms;
  for (const auto& p : points) {
    const std::string method = method_of(p.params.at("stepper"));
    const long rank = p.params.at("init.rank").get<long>();
    const double norm = p.params.at("init.norm").get<double>();
    by_key[{method, rank, norm}] = &p;
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) methods.push_back(method);
    if (std::find(ranks.begin(), ranks.end(), rank) == ranks.end()) ranks.push_back(rank);
    if (std::find(norms.begin(), norms.end(), norm) == norms.end()) norms.push_back(norm);
  }
  std::sort(ranks.begin(), ranks.end());
  std::sort(norms.begin(), norms.end());
  const std::string flow_method = methods.back() == "gd" ? methods.front() : methods.back();

  const json& b = spec.base;
  std::cout << "\nExample 1.1 (paper 000): d = " << base.dim << ", rank(X) = " << b["planted"]["rank"]
            << ", m = " << b["operator"]["measurements"] << ", eta = " << format(*base.loss.learning_rate, "%g")
            << ", K = " << b["times"]["last"] << " GD iterations, " << spec.trials << " trials per row\n"
            << "gd = the paper's update (3) (Euler, h = 8 eta); " << flow_method << " = the flow (1), "
            << "stepper " << runs.back().config["stepper"].dump() << "\n\n";
  std::printf("%-6s %4s %8s  %-21s %-9s %-20s %-9s %s\n", "method", "rank", "||U0||_F", "test error", "train err",
              "iterations", "rank end", "termination");
  for (const auto& method : {std::string("gd"), flow_method})
    for (double norm : norms)
      for (long rank : ranks) {
        const auto it = by_key.find({method, rank, norm});
        if (it == by_key.end()) continue;
        const fs::PointSummary& p = *it->second;
        std::string iters, terms;
        for (double k : p.final_iterations) iters += (iters.empty() ? "" : "/") + iteration_label(k);
        for (const auto& [t, n] : p.terminations) terms += (terms.empty() ? "" : ", ") + t + " x" + std::to_string(n);
        const auto& test = p.final.at("test_error");
        std::printf("%-6s %4ld %8s  %-21s %-9s %-20s %-9s %s\n", method.c_str(), rank, format(norm, "%.0e").c_str(),
                    (format(test.mean, "%.2e") + " +- " + format(test.std / 2, "%.1e")).c_str(),
                    format(p.final.at("training_error").mean, "%.1e").c_str(), iters.c_str(),
                    format(p.final.at("rank").mean, "%.3g").c_str(), terms.c_str());
      }
  std::cout << "(test error: ||UU^T - X||_F^2 at each run's last record, mean +- half std; train err:\n"
               " mean ||A(UU^T) - b||^2 there; iterations: where each trial ended; rank end: mean rank of U\n"
               " at relative tolerance "
            << format(base.observe.rank_tol, "%.0e") << ")\n";

  std::cout << "\nThe paper's claim (Figure 2): at ||U0||_F = 1 the rank-2 start ends with a much\n"
               "smaller test error than the rank-30 start. Ratio of the mean final test errors,\n"
               "rank 30 / rank 2 (the claim counts as confirmed if the ratio exceeds 10):\n";
  for (const auto& method : {std::string("gd"), flow_method})
    for (double norm : norms) {
      const auto lo_it = by_key.find({method, ranks.front(), norm}), hi_it = by_key.find({method, ranks.back(), norm});
      if (lo_it == by_key.end() || hi_it == by_key.end()) continue;
      const double lo = lo_it->second->final.at("test_error").mean, hi = hi_it->second->final.at("test_error").mean;
      std::printf("  %-4s ||U0||_F = %-6s rank %ld: %.2e   rank %ld: %.2e   ratio %.1e%s\n", method.c_str(),
                  format(norm, "%.0e").c_str(), ranks.front(), lo, ranks.back(), hi, hi / lo,
                  norm == 1.0 ? (hi > 10 * lo ? "   <- confirmed" : "   <- NOT confirmed") : "");
    }

  // Why GD diverges at 1e3, and how stiff the flow is where it ends: h * rho
  // at U0 and at the flow runs' last state (their last snapshot).
  std::cout << "\nStiffness: h * rho, rho = spectral radius of the Hessian of G_c (mean over the\n"
               "trials; GD = Euler with step h is stable near U only if h * rho < 2):\n";
  std::printf("  %4s %8s  %12s  %16s\n", "rank", "||U0||_F", "at U0", "at the flow's end");
  for (double norm : norms)
    for (long rank : ranks) {
      double at_start = 0, at_end = 0;
      int n = 0;
      for (const auto& r : runs) {
        if (method_of(r.params.at("stepper")) != flow_method || r.params.at("init.rank").get<long>() != rank ||
            r.params.at("init.norm").get<double>() != norm)
          continue;
        const fs::RunConfig c = fs::parse_config(r.config, spec.base_dir);
        const fs::Experiment e = fs::build_experiment(c);
        const json m = fs::read_json_file(s.out + "/runs/" + r.id + "/manifest.json");
        const auto& files = m["snapshots"]["files"];
        if (files.empty()) continue;
        const fs::Matrix last = fs::read_npy_matrix(s.out + "/runs/" + r.id + "/" + files.back()["file"].get<std::string>());
        at_start += h * hessian_radius(e.loss, e.initial, c.init.seed + 1);
        at_end += h * hessian_radius(e.loss, last, c.init.seed + 2);
        ++n;
      }
      if (n > 0)
        std::printf("  %4ld %8s  %12.3g  %16.3g\n", rank, format(norm, "%.0e").c_str(), at_start / n, at_end / n);
    }

  // ---- the figure -------------------------------------------------------------------
  const std::string png = s.out + "/example_1_1.png";
  if (!s.plot) {
    std::cout << "\nData in " << s.out << "/ (plot with: /usr/bin/python3 " << s.plot_script << " " << s.out << ")\n";
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
    std::cout << "\nFigure: " << png << "\nData:   " << s.out << "/ (aggregate.csv, points.json, sweep.json, runs/)\n";
  else
    std::cout << "\nData in " << s.out << "/; the plotting script failed (it needs matplotlib: "
              << "apt-get install python3-matplotlib), the data are complete\n";
  return 0;
}
