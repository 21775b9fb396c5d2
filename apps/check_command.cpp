// flowsense check: a theorem's verdict from a config (docs/cli.md, docs/verdicts/).
//
//   flowsense check lemma_c1 run.json --out out/c1        the run of a config, then its verdict
//   flowsense check lemma_f2 --out out/f2 --set check.random_points=100
//
// The library does the work (experiment/check.hpp); this file reads the
// command line, applies --set edits, writes the outputs and maps the verdict
// to the exit status.
#include "check_command.hpp"

#include "cancellation.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/experiment/check.hpp"
#include "flowsense/experiment/fields.hpp"
#include "flowsense/experiment/sweep.hpp"
#include "flowsense/io/atomic_file.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using flowsense::cli::UsageError;
using namespace flowsense;

namespace flowsense_cli {

namespace {

constexpr int exit_holds = 0, exit_inconclusive = 1, exit_usage = 2, exit_violated = 3;

const char* const check_help = R"(usage: flowsense check THEOREM [CONFIG.json] --out DIR [--set FIELD=VALUE]... [--force] [--quiet]
       flowsense check THEOREM [CONFIG.json] --validate [--set FIELD=VALUE]...

Runs what THEOREM's verdict needs and writes into DIR, each file atomically:
  verdict.json    holds / violated / inconclusive, the claim as stated, hypotheses,
                  evidence, tolerances (with their reasons), tables
  verdict.md      the same as a readable report
  figure.svg      the verdict's figure
  witness/*.npy   the matrices of a violation (or of the checked instance)
  manifest.json   written last: the resolved check config, status, version, wall time

THEOREM (docs/verdicts/ has one page each):
  lemma_c1        Lemma C.1 (000): rank(U(t)) <= rank(U0) along the run of CONFIG
  theorem_3_2     Theorem 3.2 (000): Assumption 3.1 at U0, the capture radii (6a)-(6c),
                  and the limit of the run of CONFIG
  theorem_4_1     Theorem 4.1 (003): incremental learning from alpha U0/||U0|| for each
                  alpha in check.alphas, to the last time of CONFIG
  lemma_f2        Lemma F.2 (000)         \
  lemma_e1        Lemma E.1 (000)          | inequality probes: a seeded adversarial
  pl_inequality   the PL inequality (12)   | search; CONFIG is optional
  lemma_5_1       Lemma 5.1 (003)         /

CONFIG for lemma_c1, theorem_3_2, theorem_4_1 is a run config (docs/config.md) with an
optional "check" object of the verdict's options; for the probes it holds only
"description", "seed" and "check" (seed, random_points, local_starts,
local_evaluations, tolerance, constant_factor, and sigma for lemma_f2/lemma_e1).

options:
  --out DIR          output directory, created if missing (required unless --validate)
  --set FIELD=VALUE  change a config field first, e.g. --set check.random_points=100,
                     --set check.alphas=[0.01,0.0001], --set times.t_end=50; VALUE is JSON
                     (a bare word is taken as a string); may be repeated
  --validate         check the config and print what would run, without running
  --force            replace the outputs of an earlier check in DIR
  --quiet            print nothing but errors
  -h, --help         this text

Ctrl-C stops at once: the files are written only when the verdict is ready, and
manifest.json last, so a directory without a manifest holds no complete check.

exit status: 0 the claim holds on everything tried; 1 inconclusive; 3 violated (the
witnesses are in DIR/witness); 2 bad input or usage (nothing run). Outputs are
written for 0, 1 and 3.
)";

struct Args {
  std::string theorem, config, out;
  std::vector<std::string> sets;
  bool force = false, quiet = false, validate = false, help = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  std::vector<std::string> args(argv, argv + argc);
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (s.size() > flag.size() && s.compare(0, flag.size() + 1, flag + "=") == 0) return s.substr(flag.size() + 1);
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      return args[++i];
    };
    if (s == "-h" || s == "--help") a.help = true;
    else if (s == "--force") a.force = true;
    else if (s == "--quiet") a.quiet = true;
    else if (s == "--validate") a.validate = true;
    else if (s == "--out" || s.rfind("--out=", 0) == 0) a.out = value("--out");
    else if (s == "--set" || s.rfind("--set=", 0) == 0) a.sets.push_back(value("--set"));
    else if (!s.empty() && s[0] == '-') throw UsageError("unknown option '" + s + "' for check");
    else positional.push_back(s);
  }
  if (a.help) return a;
  if (positional.empty())
    throw UsageError("missing the theorem (flowsense check THEOREM [CONFIG.json] --out DIR); allowed: " +
                     join(check_names()));
  if (positional.size() > 2)
    throw UsageError("unexpected argument '" + positional[2] + "' (one theorem and one config file only)");
  a.theorem = positional[0];
  if (positional.size() == 2) a.config = positional[1];
  if (a.out.empty() && !a.validate) throw UsageError("missing --out DIR");
  return a;
}

/// --set a.b=VALUE: VALUE as JSON, else as a string.
void apply_set(json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError("--set expects FIELD=VALUE, got '" + assignment + "'");
  json value;
  try {
    value = json::parse(assignment.substr(eq + 1));
  } catch (const json::parse_error&) {
    value = assignment.substr(eq + 1);
  }
  try {
    set_field(config, assignment.substr(0, eq), value);
  } catch (const std::exception& e) {
    throw UsageError(std::string("--set ") + assignment + ": " + e.what());
  }
}

int run(const Args& a, std::string& reading) {
  const auto kind = check_from_string(a.theorem);
  if (!kind) throw InputError(a.theorem, "unknown theorem; allowed: " + join(check_names()));
  if (a.config.empty() && !is_probe(*kind))
    throw UsageError(to_string(*kind) + " runs the flow of a run config: flowsense check " + to_string(*kind) +
                     " CONFIG.json --out DIR");
  json raw = a.config.empty() ? json::object() : read_json_file(a.config);
  for (const auto& s : a.sets) apply_set(raw, s);
  reading = a.config;
  const std::string base = a.config.empty() ? fs::current_path().string()
                                            : fs::absolute(fs::path(a.config)).parent_path().string();
  const CheckConfig config = parse_check_config(*kind, raw, base);
  reading.clear();

  if (a.validate) {
    if (!a.quiet)
      std::cout << "valid: " << (a.config.empty() ? "(defaults)" : a.config) << " for " << to_string(*kind) << "\n"
                << describe(config);
    return exit_holds;
  }
  const std::string manifest_path = (fs::path(a.out) / "manifest.json").string();
  if (fs::exists(manifest_path) && !a.force)
    throw UsageError(a.out + " already holds a check (manifest.json); use --force to replace it");
  create_directories(a.out);  // fail now, not after the check
  if (a.force) {
    std::error_code ec;
    fs::remove(manifest_path, ec);
    fs::remove_all(fs::path(a.out) / "witness", ec);  // a previous violation's witnesses are not this check's
  }
  if (!a.quiet) std::cout << "flowsense check " << to_string(*kind) << "\n" << describe(config) << std::flush;

  const auto start = std::chrono::steady_clock::now();
  const Verdict verdict = run_check(config);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json extra = {{"command", {{"theorem", a.theorem}, {"config_file", a.config}, {"set", a.sets}, {"out", a.out}}},
                {"wall_seconds_total", seconds}};
  const json manifest = write_check_outputs(a.out, config, verdict, extra);

  if (!a.quiet) {
    char time[32];
    std::snprintf(time, sizeof time, "%.1f s", seconds);
    std::ostringstream r;
    r << to_string(*kind) << ": " << to_string(verdict.status) << " (" << time << ") - " << verdict.claim.name << "\n"
      << "  " << verdict.summary << "\n  wrote " << (fs::path(a.out) / "verdict.json").string();
    for (const auto& f : manifest["files"])
      if (f != "verdict.json") r << ", " << f.get<std::string>();
    r << ", manifest.json\n";
    std::cout << r.str();
  }
  switch (verdict.status) {
    case VerdictStatus::holds: return exit_holds;
    case VerdictStatus::violated: return exit_violated;
    case VerdictStatus::inconclusive: return exit_inconclusive;
  }
  return exit_inconclusive;
}

}  // namespace

int check_command(int argc, char** argv) {
  std::string reading;
  try {
    const Args a = parse_args(argc, argv);
    if (a.help) {
      std::cout << check_help;
      return exit_holds;
    }
    return run(a, reading);
  } catch (const UsageError& e) {
    std::cerr << "flowsense: " << e.what() << "\n(see flowsense check --help)\n";
    return exit_usage;
  } catch (const InputError& e) {
    std::cerr << "flowsense: " << (reading.empty() ? "" : reading + ": ") << e.what() << "\n";
    return exit_usage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "flowsense: " << (reading.empty() ? "" : reading + ": ") << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "flowsense: error: " << e.what() << "\n";
    return exit_inconclusive;
  }
}

}  // namespace flowsense_cli
