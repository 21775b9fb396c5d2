#pragma once
// A theorem check described as data: what `flowsense check THEOREM CONFIG.json`
// reads (docs/cli.md, docs/verdicts/*.md).
//
//   CheckConfig c = load_check_config(CheckKind::lemma_c1, "run.json");
//   Verdict v = run_check(c);                       // verdict/verdict.hpp
//   write_check_outputs("out", c, v);               // verdict.json, verdict.md, figure.svg, witness/, manifest.json
//
// Two kinds of checks (verdict/):
//   trajectory verdicts (lemma_c1, theorem_3_2, theorem_4_1) run the flow of a
//     run config (the same JSON `flowsense run` reads) plus an optional
//     "check" object with the verdict's options;
//   inequality probes (lemma_f2, lemma_e1, pl_inequality, lemma_5_1) run a
//     seeded adversarial search; their config holds only "description",
//     "seed" and "check" (the search budget and options), and may be omitted.
// Every field is checked up front with the config's errors (field path, value,
// what is allowed); every seed a config leaves out derives from "seed".
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/experiment/config.hpp"
#include "flowsense/verdict/probes.hpp"
#include "flowsense/verdict/trajectory_checks.hpp"
#include "flowsense/verdict/verdict.hpp"

namespace flowsense {

enum class CheckKind { lemma_c1, theorem_3_2, theorem_4_1, lemma_f2, lemma_e1, pl_inequality, lemma_5_1 };

/// The names `flowsense check` accepts, in this order: lemma_c1, theorem_3_2,
/// theorem_4_1, lemma_f2, lemma_e1, pl_inequality, lemma_5_1.
const std::vector<std::string>& check_names();
std::string to_string(CheckKind kind);
/// The kind for a name; also accepts the verdict pages' spellings with '-' or
/// '.' for '_' and any case ("Lemma-C.1" -> lemma_c1). Empty if unknown.
std::optional<CheckKind> check_from_string(const std::string& name);
/// True for the inequality probes (no run config).
bool is_probe(CheckKind kind);

struct CheckConfig {
  CheckKind kind = CheckKind::lemma_c1;
  std::string description;
  std::uint64_t seed = 0;
  /// Trajectory verdicts: the run (everything but "check").
  std::optional<RunConfig> run;

  LemmaC1Options lemma_c1;
  Theorem32Options theorem_3_2;
  /// Theorem 3.2: the norm bound of (model) and M_b; default 1.1 sqrt(lambda_max(X♮)),
  /// the smallest round value with 0 <= X♮ < xi^2 I and a 10% margin.
  double xi = 0.0;
  bool xi_default = true;
  Theorem41Options theorem_4_1;
  std::vector<double> alphas = {1e-2, 1e-4, 1e-6};  ///< Theorem 4.1: scales of alpha Ubar, Ubar = U0
  int observations = 400;                           ///< Theorem 4.1: log-spaced in [1e-4 t_end, t_end]
  ProbeOptions probe;
  SigmaCombination sigma = SigmaCombination::max_as_stated;  ///< lemma_f2, lemma_e1
};

/// Parses a check config; `config` may be null (an empty object) for probes.
/// Throws InputError naming the field.
CheckConfig parse_check_config(CheckKind kind, const nlohmann::json& config, const std::string& base_dir);
/// Reads and parses a JSON file (base_dir = its directory).
CheckConfig load_check_config(CheckKind kind, const std::string& path);
/// The resolved config: parse_check_config(kind, to_json(c)) == c.
nlohmann::json to_json(const CheckConfig& config);

/// One line per part of the check: what runs, with which budget.
std::string describe(const CheckConfig& config);

/// Runs the check. Never throws for a numerical outcome (an abnormal run is
/// reported inside the verdict).
Verdict run_check(const CheckConfig& config);

/// Writes write_verdict()'s files into `dir`, then manifest.json (last): the
/// resolved check config, status, summary, flowsense version, plus `extra`.
/// Returns the manifest.
nlohmann::json write_check_outputs(const std::string& dir, const CheckConfig& config, const Verdict& verdict,
                                   const nlohmann::json& extra = nlohmann::json::object());

}  // namespace flowsense
