// flowsense: the command-line tool (docs/cli.md).
//
//   flowsense run CONFIG.json --out DIR    integrate a configured flow, record it
//   flowsense validate CONFIG.json         check a config without running it
//   flowsense sweep SWEEP.json --out DIR   a grid of runs x trials (apps/sweep_command.cpp)
//   flowsense check THEOREM CONFIG.json --out DIR   a theorem's verdict (apps/check_command.cpp)
//
// Exit status: 0 ok, 1 the run ended abnormally (diverged, interrupted, out of
// budget, ...; everything recorded is still written), 2 bad input or usage.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "flowsense/core/error.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/fields.hpp"
#include "flowsense/experiment/run.hpp"
#include "flowsense/io/atomic_file.hpp"
#include "flowsense/problem/noise.hpp"
#include "flowsense/version.hpp"
#include "cancellation.hpp"
#include "check_command.hpp"
#include "sweep_command.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using flowsense::cli::UsageError;
using namespace flowsense;

namespace {

constexpr int exit_ok = 0, exit_abnormal = 1, exit_usage = 2;

const char* const main_help = R"(flowsense - the gradient flow of low-rank matrix sensing

usage:
  flowsense run CONFIG.json --out DIR [options]   integrate the flow a config describes and record it
  flowsense validate CONFIG.json [options]        check a config and the .npy files it names, without running
  flowsense sweep SWEEP.json --out DIR [options]  run a grid of configs x seeded trials, resumable; aggregate
  flowsense check THEOREM [CONFIG.json] --out DIR run what a theorem needs and write its verdict
                                                  (lemma_c1, theorem_3_2, theorem_4_1, lemma_f2,
                                                  lemma_e1, pl_inequality, lemma_5_1)
  flowsense --version
  flowsense --help

`flowsense COMMAND --help` describes the options of each command.
The config fields are documented in docs/config.md.

exit status: 0 ok; 1 the run ended abnormally (diverged, interrupted, budget
used up, stagnated, no progress), its outputs still written; 2 bad input or usage.
check: 0 holds, 1 inconclusive, 3 violated (outputs written), 2 bad input or usage.
)";

const char* const run_help = R"(usage: flowsense run CONFIG.json --out DIR [--set FIELD=VALUE]... [--force] [--quiet]

Integrates the flow CONFIG.json describes and writes into DIR, each file atomically:
  trajectory.csv     one row per observation time (t, iteration, step_size, steps,
                     rejected, rhs_evaluations, training_error, test_error, rank, sigma_k)
  snapshots/         U_<k>.npy or X_<k>.npy at observation k, if observe.snapshots is set
  manifest.json      written last: the resolved config (defaults and derived seeds
                     filled in), flowsense version, stepper statistics, why and where
                     the run stopped, wall time, columns and snapshot list

options:
  --out DIR          output directory, created if missing (required)
  --set FIELD=VALUE  change a config field before it is checked, e.g. --set seed=7,
                     --set stepper.rtol=1e-10, --set init.norm=1e-3; VALUE is JSON
                     (a bare word is taken as a string); may be repeated
  --force            replace the outputs of an earlier run in DIR
  --quiet            no progress line and no report on stderr
  -h, --help         this text

On a terminal, a progress line on stderr shows t / t_end, GD iterations, steps,
right-hand sides and the last observed training error. Ctrl-C (or SIGTERM)
stops the run after the current step; everything recorded up to there is
written and the manifest says where it stopped. A second Ctrl-C kills at once.

exit status: 0 the run completed or met its target; 1 it ended otherwise
(outputs written); 2 bad input or usage (nothing run).
)";

const char* const validate_help = R"(usage: flowsense validate CONFIG.json [--set FIELD=VALUE]... [--print]

Checks CONFIG.json as `flowsense run` would, without integrating: every field,
the .npy files it names (readable, finite, the right shape, a planted matrix
symmetric and PSD within its tolerances), and that the problem can be built.
Prints a short description of the run on stdout.

options:
  --set FIELD=VALUE  as for `flowsense run`
  --print            print the resolved config (JSON) instead of the description
  -h, --help         this text

exit status: 0 the config is valid; 2 it is not (the message names the field).
)";

/// The config file, while it is being read: errors then name it first.
std::string reading_config;

struct Options {
  std::string command;
  std::string config;
  std::string out;
  std::vector<std::string> sets;
  bool force = false, quiet = false, print = false, help = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) throw UsageError("missing command (run, validate, sweep or check)");
  o.command = args[0];
  if (o.command == "-h" || o.command == "--help" || o.command == "help") {
    o.command = "help";
    return o;
  }
  if (o.command == "--version" || o.command == "version") {
    o.command = "version";
    return o;
  }
  if (o.command != "run" && o.command != "validate")
    throw UsageError("unknown command '" + o.command + "' (expected run, validate, sweep or check)");
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0) return a.substr(flag.size() + 1);
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") o.help = true;
    else if (a == "--force" && o.command == "run") o.force = true;
    else if (a == "--quiet" && o.command == "run") o.quiet = true;
    else if (a == "--print" && o.command == "validate") o.print = true;
    else if ((a == "--out" || a.rfind("--out=", 0) == 0) && o.command == "run") o.out = value("--out");
    else if (a == "--set" || a.rfind("--set=", 0) == 0) o.sets.push_back(value("--set"));
    else if (!a.empty() && a[0] == '-') throw UsageError("unknown option '" + a + "' for " + o.command);
    else if (o.config.empty()) o.config = a;
    else throw UsageError("unexpected argument '" + a + "' (one config file only)");
  }
  if (o.help) return o;
  if (o.config.empty()) throw UsageError("missing the config file (flowsense " + o.command + " CONFIG.json)");
  if (o.command == "run" && o.out.empty()) throw UsageError("missing --out DIR");
  return o;
}

/// --set a.b.c=VALUE: VALUE as JSON, else as a string.
void apply_set(json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set expects FIELD=VALUE, got '" + assignment + "'");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error&) {
    value = text;
  }
  json* node = &config;
  std::string done;
  std::size_t start = 0;
  for (;;) {
    const auto dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) throw UsageError("--set: empty field name in '" + path + "'");
    if (!node->is_object())
      throw UsageError("--set " + path + ": '" + (done.empty() ? "the config" : done) + "' is not an object");
    if (dot == std::string::npos) {
      (*node)[key] = value;
      return;
    }
    node = &(*node)[key];
    if (node->is_null()) *node = json::object();
    done += (done.empty() ? "" : ".") + key;
    start = dot + 1;
  }
}

RunConfig load(const Options& o, json& raw) {
  raw = read_json_file(o.config);
  for (const auto& s : o.sets) apply_set(raw, s);
  reading_config = o.config;
  RunConfig config = parse_config(raw, fs::absolute(fs::path(o.config)).parent_path().string());
  reading_config.clear();
  return config;
}

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string describe(const RunConfig& c, const Experiment& e) {
  std::ostringstream s;
  const double h = c.loss.gd_step();
  s << "  problem   d = " << c.dim << ", operator " << c.op.type << " (m = " << e.problem.measurements() << "), planted "
    << to_string(c.planted.type);
  if (c.planted.type == PlantedKind::trace_one) s << " rank " << c.planted.rank;
  if (c.planted.type == PlantedKind::orthogonal) s << " with " << c.planted.eigenvalues.size() << " eigenvalues";
  s << ", ||b||^2 = " << sci(e.problem.b.squaredNorm());
  if (c.noise.sigma > 0)
    s << ", noise sigma " << format_number(c.noise.sigma) << " (||sigma eps||^2 = " << sci(noise_energy(e.problem))
      << ")";
  s << "\n";
  s << "  loss      c = " << format_number(c.loss.c);
  if (!c.loss.convention.empty()) s << " (" << c.loss.convention << ")";
  if (c.loss.learning_rate)
    s << ", learning rate " << format_number(*c.loss.learning_rate) << " -> GD step h = " << format_number(h);
  s << "\n  init      " << to_string(c.init.type) << ", " << c.dim << " x " << c.init.width;
  if (c.init.type == InitKind::random) s << ", rank " << c.init.rank;
  s << ", ||U0||_F = " << sci(e.initial.norm()) << "\n";
  s << "  flow      " << e.flow.record["integrated"].get<std::string>() << " (state "
    << e.flow.record["state"].get<std::string>() << "): " << e.flow.record["reason"].get<std::string>();
  if (c.flow.gram_gap) s << "; gram_gap: the other flow is integrated too";
  s << "\n";
  s << "  stepper   " << c.stepper.name();
  if (c.stepper.gd || !is_adaptive(c.stepper.options.stepper)) s << ", step " << format_number(c.stepper.options.step);
  else s << ", rtol " << format_number(c.stepper.options.rtol) << ", atol " << format_number(c.stepper.options.atol);
  s << "\n  times     " << to_string(c.times.type) << ", " << e.times.size() << " observation times in [0, "
    << format_number(e.times.back()) << "]";
  if (h > 0) s << " (" << format_number(std::round(e.times.back() / h)) << " GD iterations)";
  s << "\n  observe   rank_tol " << format_number(c.observe.rank_tol) << ", " << c.observe.singular_values
    << " singular values, snapshots " << to_string(c.observe.snapshots) << "\n";
  const auto rules = make_stop_rules(c, e.loss);
  s << "  stop      ";
  if (rules.empty()) s << "at the last observation time";
  for (std::size_t i = 0; i < rules.size(); ++i) s << (i ? "; " : "") << rules[i]->describe();
  s << "\n";
  return s.str();
}

int cmd_validate(const Options& o) {
  json raw;
  const RunConfig config = load(o, raw);
  const Experiment e = build_experiment(config);
  if (o.print) {
    std::cout << to_json(config).dump(2) << "\n";
  } else {
    std::cout << "valid: " << o.config << "\n" << describe(config, e);
  }
  return exit_ok;
}

/// Prints the progress line in place: t / t_end, iterations, steps, rhs, error.
void show_progress(const RunProgress& p) {
  char line[256];
  int n = std::snprintf(line, sizeof line, "\r  t = %.4g / %.4g (%3.0f%%)", p.info.t, p.t_end,
                        p.t_end > 0 ? 100.0 * p.info.t / p.t_end : 0.0);
  if (p.gd_step > 0) n += std::snprintf(line + n, sizeof line - n, "  iteration %.0f", p.info.t / p.gd_step);
  n += std::snprintf(line + n, sizeof line - n, "  steps %llu  rhs %llu",
                     static_cast<unsigned long long>(p.info.steps), static_cast<unsigned long long>(p.info.rhs));
  if (p.info.jvp > 0)
    n += std::snprintf(line + n, sizeof line - n, "  jvp %llu", static_cast<unsigned long long>(p.info.jvp));
  if (std::isfinite(p.training_error))
    std::snprintf(line + n, sizeof line - n, "  training error %.3g", p.training_error);
  std::fputs(line, stderr);
  std::fputs("\033[K", stderr);  // clear the rest of the line
  std::fflush(stderr);
}

int cmd_run(const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  json raw;
  const RunConfig config = load(o, raw);
  const std::string manifest_path = (fs::path(o.out) / "manifest.json").string();
  if (fs::exists(manifest_path) && !o.force)
    throw UsageError(o.out + " already holds a run (manifest.json); use --force to replace it");
  cli::install_cancel_handlers();  // from here on, Ctrl-C ends the run cleanly
  flowsense::create_directories(o.out);  // fail now, not after the run
  if (o.force) {
    std::error_code ec;
    fs::remove(manifest_path, ec);  // its absence marks the outputs incomplete
  }

  RunHooks hooks;
  hooks.cancel = &cli::cancel_requested();
  const bool progress = !o.quiet && ::isatty(STDERR_FILENO);
  if (progress) hooks.progress = show_progress;
  RunResult result = run(config, hooks);
  if (progress) std::fputs("\r\033[K", stderr);

  Summary& s = result.trajectory.summary;
  if (s.termination == Termination::interrupted) {
    const int sig = cli::cancel_signal();
    s.message += sig == SIGTERM ? " (SIGTERM)" : " (SIGINT)";
  }
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json extra = {{"command", {{"config_file", o.config}, {"set", o.sets}, {"out", o.out}}},
                {"wall_seconds_total", total}};
  const json manifest = write_run_outputs(o.out, config, result, extra);

  if (!o.quiet) {
    std::ostringstream r;
    r << "flowsense: " << to_string(s.termination) << ": " << s.message << "\n";
    r << "  stopped at t = " << sci(s.last.t);
    if (result.gd_step > 0) {
      const double it = manifest["stopped_at"]["iteration"].get<double>();
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.*f", it == std::round(it) ? 0 : 1, it);
      r << " (GD iteration " << buf << ")";
    }
    r << " after " << s.last.steps << " steps, " << s.last.rhs << " right-hand sides, ";
    if (s.last.jvp > 0) r << s.last.jvp << " Jacobian-vector products, ";
    r << sci(s.wall_seconds) << " s\n";
    if (!s.stepper_used.empty() && s.stepper_used != config.stepper.name())
      r << "  stepper used: " << s.stepper_used << (s.stepper_choice.empty() ? "" : " (" + s.stepper_choice + ")")
        << "\n";
    const auto& fin = manifest["final"];
    r << "  final:";
    for (const char* key : {"training_error", "test_error", "rank"})
      if (fin.contains(key) && fin[key].is_number()) r << " " << key << " " << sci(fin[key].get<double>());
    r << "\n  wrote " << (fs::path(o.out) / "trajectory.csv").string() << " (" << result.trajectory.rows.size()
      << " rows)";
    if (!manifest["snapshots"]["files"].empty())
      r << ", " << manifest["snapshots"]["files"].size() << " snapshots";
    r << ", " << manifest_path << "\n";
    std::cerr << r.str();
  }
  return s.ok() ? exit_ok : exit_abnormal;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "sweep") return sweep_command(argc - 1, argv + 1);
  if (argc > 1 && std::string(argv[1]) == "check") return flowsense_cli::check_command(argc - 2, argv + 2);
  Options o;
  try {
    o = parse_args(argc, argv);
    if (o.command == "help") {
      std::cout << main_help;
      return exit_ok;
    }
    if (o.command == "version") {
      std::cout << "flowsense " << flowsense::version << "\n";
      return exit_ok;
    }
    if (o.help) {
      std::cout << (o.command == "run" ? run_help : validate_help);
      return exit_ok;
    }
    return o.command == "run" ? cmd_run(o) : cmd_validate(o);
  } catch (const UsageError& e) {
    std::cerr << "flowsense: " << e.what() << "\n(see flowsense " << (o.command.empty() ? "" : o.command + " ")
              << "--help)\n";
    return exit_usage;
  } catch (const InputError& e) {
    std::cerr << "flowsense: " << (reading_config.empty() ? "" : reading_config + ": ") << e.what() << "\n";
    return exit_usage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "flowsense: " << (reading_config.empty() ? "" : reading_config + ": ") << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "flowsense: error: " << e.what() << "\n";
    return exit_abnormal;
  }
}
