// flowsense sweep SWEEP.json --out DIR [--threads N] [--set FIELD=VALUE]... [--quiet]
//
// Runs every run of a sweep (a grid over config fields times trials,
// experiment/sweep.hpp) on N threads, resumes where an earlier invocation
// stopped (even one killed with SIGKILL: each finished run is written
// atomically, its manifest last), stops cleanly on Ctrl-C, then aggregates the
// trials of each grid point (mean +- half a standard deviation, as the papers
// plot) and prints one row per grid point. docs/cli.md shows it in use.
#include "sweep_command.hpp"

#include "cancellation.hpp"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "flowsense/core/error.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/sweep.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using flowsense::cli::UsageError;

namespace {

constexpr int exit_ok = 0, exit_abnormal = 1, exit_usage = 2;

const char* const sweep_help = R"(usage: flowsense sweep SWEEP.json --out DIR [--threads N] [--set FIELD=VALUE]... [--quiet]

Runs every run of a sweep: a grid over config fields times a number of seeded
trials (the file format is in docs/cli.md). Each run is written atomically to
DIR/runs/<id>/ (trajectory.csv, manifest.json last) as soon as it finishes.
At the end the trials of each grid point are aggregated:
  DIR/aggregate.csv  per grid point and observation row: mean, std, mean -+ std/2, n
  DIR/points.json    per grid point: its values, trials, terminations, final values
  DIR/sweep.json     the sweep and every run's status
and a table with one row per grid point (final values, mean +- half std) is
printed on stdout.

Resume: run the same command again. Finished runs are kept and skipped; runs
that failed or were interrupted run again. DIR remembers the sweep it holds
(DIR/sweep_spec.json), and a different sweep into the same DIR is refused.

options:
  --out DIR          output directory, created if missing (required)
  --threads N        runs in parallel, N >= 1 (default: the machine's cores);
                     the numbers do not depend on N (every run has its own seed)
  --set FIELD=VALUE  change a field of the sweep file before it is checked, e.g.
                     --set trials=1, --set base.times.last=100; VALUE is JSON
                     (a bare word is taken as a string); may be repeated
  --quiet            no progress on stderr
  -h, --help         this text

Progress (stderr): runs done / total, running, failed, the last run finished
and an estimate of the time left; on a terminal one line updated in place,
otherwise one line per finished run. Ctrl-C (or SIGTERM) starts no new run and
interrupts the running ones, which are not recorded and run again on resume;
what finished is aggregated. A second Ctrl-C kills at once (nothing finished
is lost either way).

exit status: 0 every run finished and was recorded (whatever its numerical
outcome: diverged runs are results, counted in the table); 1 some runs failed
(DIR/runs/<id>/failed.json says why) or the sweep was interrupted; 2 bad input
or usage (nothing run).
)";

struct Options {
  std::string sweep, out;
  int threads = 0;
  std::vector<std::string> sets;
  bool quiet = false, help = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0) return a.substr(flag.size() + 1);
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--out" || a.rfind("--out=", 0) == 0) {
      o.out = value("--out");
    } else if (a == "--threads" || a.rfind("--threads=", 0) == 0) {
      const std::string v = value("--threads");
      std::size_t used = 0;
      long n = 0;
      try {
        n = std::stol(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != v.size() || n < 1 || n > 1024)
        throw UsageError("--threads: expected an integer in [1, 1024], got '" + v + "'");
      o.threads = static_cast<int>(n);
    } else if (a == "--set" || a.rfind("--set=", 0) == 0) {
      o.sets.push_back(value("--set"));
    } else if (!a.empty() && a[0] == '-') {
      throw UsageError("unknown option '" + a + "' for sweep");
    } else if (o.sweep.empty()) {
      o.sweep = a;
    } else {
      throw UsageError("unexpected argument '" + a + "' (one sweep file only)");
    }
  }
  if (o.help) return o;
  if (o.sweep.empty()) throw UsageError("missing the sweep file (flowsense sweep SWEEP.json --out DIR)");
  if (o.out.empty()) throw UsageError("missing --out DIR");
  return o;
}

/// The sweep file with the --set changes applied. A "base" given as a path is
/// read first so that --set base.x=... changes it (relative .npy paths in it
/// still resolve from its own folder).
flowsense::SweepSpec load(const Options& o) {
  json j = flowsense::read_json_file(o.sweep);
  std::string base_dir = fs::absolute(fs::path(o.sweep)).parent_path().string();
  if (!j.is_object()) throw flowsense::InputError(o.sweep, "expected a JSON object (a sweep), got " + j.dump());
  for (const auto& assignment : o.sets) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--set expects FIELD=VALUE, got '" + assignment + "'");
    const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
    if (path.rfind("base.", 0) == 0 && j.contains("base") && j["base"].is_string()) {
      fs::path p = j["base"].get<std::string>();
      if (p.is_relative()) p = fs::path(base_dir) / p;
      j["base"] = flowsense::read_json_file(p.string());
      base_dir = p.parent_path().string();
    }
    json value;
    try {
      value = json::parse(text);
    } catch (const json::parse_error&) {
      value = text;
    }
    try {
      flowsense::set_field(j, path, value);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--set: ") + e.what());
    }
  }
  return flowsense::parse_sweep(j, base_dir);
}

std::string duration(double seconds) {
  if (!(seconds >= 0)) return "?";
  char buf[32];
  const long s = std::lround(seconds);
  if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

std::string progress_line(const flowsense::SweepProgress& p) {
  std::ostringstream s;
  s << "[sweep] " << p.done << "/" << p.total << " done";
  if (p.skipped) s << " (" << p.skipped << " from before)";
  s << ", " << p.running << " running, " << p.failed << " failed";
  if (p.interrupted) s << ", " << p.interrupted << " interrupted";
  s << ", " << duration(p.elapsed_seconds) << " elapsed";
  s << ", " << (p.eta_seconds >= 0 ? "~" + duration(p.eta_seconds) + " left" : "time left: after the first run");
  if (!p.last_finished.empty()) s << "; last: " << p.last_finished;
  return s.str();
}

/// A grid value as a short label: a stepper {"type": "gd"} as gd.
std::string label(const json& v) {
  if (v.is_object() && v.contains("type") && v["type"].is_string()) {
    std::string s = v["type"].get<std::string>();
    for (const auto& [k, x] : v.items())
      if (k != "type") s += " " + k + "=" + x.dump();
    return s;
  }
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string sci(double v, const char* spec = "%.3g") {
  char buf[40];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

void print_table(const flowsense::SweepSpec& spec, const std::vector<flowsense::PointSummary>& points) {
  std::vector<std::string> head;
  for (const auto& a : spec.grid) head.push_back(a.field);
  head.push_back("trials");
  for (const auto& c : spec.aggregate) head.push_back(c + " (final, mean +- std/2)");
  head.push_back("iterations at the end");
  head.push_back("terminations");
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : points) {
    std::vector<std::string> row;
    for (const auto& a : spec.grid) row.push_back(label(p.params.value(a.field, json())));
    row.push_back(std::to_string(p.trials_complete) + "/" + std::to_string(spec.trials) +
                  (p.trials_failed ? " (" + std::to_string(p.trials_failed) + " failed)" : ""));
    for (const auto& c : spec.aggregate) {
      const auto it = p.final.find(c);
      if (it == p.final.end() || it->second.n == 0) row.push_back("-");
      else row.push_back(sci(it->second.mean, "%.3e") + " +- " + sci(it->second.std / 2, "%.1e"));
    }
    std::string its;
    for (double k : p.final_iterations) its += (its.empty() ? "" : "/") + sci(k, k < 10 ? "%.2g" : "%.0f");
    row.push_back(its.empty() ? "-" : its);
    std::string terms;
    for (const auto& [t, n] : p.terminations) terms += (terms.empty() ? "" : ", ") + t + " x" + std::to_string(n);
    row.push_back(terms.empty() ? "-" : terms);
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t j = 0; j < head.size(); ++j) {
    width[j] = head[j].size();
    for (const auto& r : rows) width[j] = std::max(width[j], r[j].size());
  }
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line;
    for (std::size_t j = 0; j < r.size(); ++j) {
      line += r[j];
      if (j + 1 < r.size()) line += std::string(width[j] - r[j].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print_row(head);
  for (const auto& r : rows) print_row(r);
}

int run_sweep_command(const Options& o) {
  const flowsense::SweepSpec spec = load(o);
  const auto runs = flowsense::expand_sweep(spec);
  const std::size_t points = runs.size() / static_cast<std::size_t>(spec.trials);
  const int threads = o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  flowsense::cli::install_cancel_handlers();

  const bool tty = ::isatty(STDERR_FILENO);
  flowsense::SweepOptions options;
  options.threads = threads;
  options.cancel = &flowsense::cli::cancel_requested();
  std::size_t last_done = 0;
  bool first = true;
  if (!o.quiet)
    options.progress = [&](const flowsense::SweepProgress& p) {
      if (first) {
        std::cerr << "[sweep] " << o.sweep << ": " << p.total << " runs (" << points << " grid points x "
                  << spec.trials << " trials), " << p.skipped << " already complete in " << o.out << ", " << threads
                  << " thread(s)\n";
        first = false;
      }
      if (tty) {
        std::cerr << "\r" << progress_line(p) << "\033[K" << std::flush;
      } else if (p.done + p.interrupted != last_done) {  // one line per finished run
        std::cerr << progress_line(p) << "\n";
      }
      last_done = p.done + p.interrupted;
    };
  const flowsense::SweepReport report = flowsense::run_sweep(spec, o.out, options);
  if (!o.quiet && tty && !first) std::cerr << "\n";
  if (!o.quiet && first)
    std::cerr << "[sweep] " << o.sweep << ": all " << report.total << " runs already complete in " << o.out << "\n";

  const auto summaries = flowsense::aggregate_sweep(spec, o.out);
  if (!spec.description.empty()) std::cout << spec.description << "\n";
  print_table(spec, summaries);
  std::cout << "(final: each trial's last row; iterations: where each trial ended)\n";
  std::cout << "wrote " << (fs::path(o.out) / "aggregate.csv").string() << ", "
            << (fs::path(o.out) / "points.json").string() << ", " << (fs::path(o.out) / "sweep.json").string()
            << "\n";

  const std::size_t complete = report.skipped + report.completed;
  if (report.cancelled || report.failed > 0 || complete < report.total) {
    std::cerr << "flowsense sweep: " << complete << "/" << report.total << " runs complete";
    if (report.failed) std::cerr << ", " << report.failed << " failed (see " << o.out << "/runs/<id>/failed.json)";
    if (report.cancelled) std::cerr << "; interrupted";
    std::cerr << "; run the same command again to resume\n";
    return exit_abnormal;
  }
  return exit_ok;
}

}  // namespace

int sweep_command(int argc, char** argv) {
  Options o;
  try {
    o = parse_args(argc, argv);
    if (o.help) {
      std::cout << sweep_help;
      return exit_ok;
    }
    return run_sweep_command(o);
  } catch (const UsageError& e) {
    std::cerr << "flowsense: " << e.what() << "\n(see flowsense sweep --help)\n";
    return exit_usage;
  } catch (const flowsense::InputError& e) {
    // Errors about the file itself already name it.
    const bool named = e.where().find(o.sweep) != std::string::npos || e.where().find(".json") != std::string::npos;
    std::cerr << "flowsense: " << (named ? "" : o.sweep + ": ") << e.what() << "\n";
    return exit_usage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "flowsense: " << o.sweep << ": " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "flowsense: error: " << e.what() << "\n";
    return exit_abnormal;
  }
}
