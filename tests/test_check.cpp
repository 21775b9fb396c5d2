// Theorem checks from configs (experiment/check.hpp): names, round trips,
// errors naming the field, and the verdict of a config's run agreeing with the
// library verdict on the same objects.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/check.hpp"
#include "flowsense/experiment/run.hpp"

#include "config_testing.hpp"

using namespace flowsense;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// d = 6, m = 30, rank-2 truth, a rank-2 start of width 6 (Lemma C.1 can fail here).
json run_json() {
  return json::parse(R"({
    "seed": 3,
    "dim": 6,
    "operator": {"type": "gaussian", "measurements": 30, "scale": "unit"},
    "planted": {"type": "trace_one", "rank": 2},
    "loss": {"convention": "paper000"},
    "init": {"type": "random", "rank": 2, "width": 6, "norm": 0.5},
    "stepper": {"type": "dopri5", "rtol": 1e-9, "atol": 1e-13},
    "times": {"type": "log", "t_min": 1e-3, "t_end": 30, "points": 40}
  })");
}

void require_bad(CheckKind kind, const json& config, const std::string& where, const std::vector<std::string>& parts) {
  testing::require_input_error([&] { parse_check_config(kind, config, "."); }, config.dump(), where, parts);
}

}  // namespace

TEST_CASE("check: names, aliases and which checks are probes", "[check]") {
  REQUIRE(check_names().size() == 7);
  for (const auto& n : check_names()) {
    const auto k = check_from_string(n);
    REQUIRE(k);
    CHECK(to_string(*k) == n);
  }
  CHECK(check_from_string("Lemma-C.1") == CheckKind::lemma_c1);
  CHECK(check_from_string("theorem-3.2") == CheckKind::theorem_3_2);
  CHECK(check_from_string("PL") == CheckKind::pl_inequality);
  CHECK_FALSE(check_from_string("lemma_c2"));
  CHECK(is_probe(CheckKind::lemma_5_1));
  CHECK_FALSE(is_probe(CheckKind::theorem_4_1));
}

TEST_CASE("check: configs round-trip through their resolved form", "[check]") {
  for (const auto& name : check_names()) {
    INFO(name);
    const CheckKind kind = *check_from_string(name);
    json c = is_probe(kind) ? json{{"seed", 4}, {"check", {{"random_points", 50}}}} : run_json();
    if (kind == CheckKind::theorem_4_1) c["check"] = {{"alphas", {1e-2, 1e-3}}};
    const CheckConfig parsed = parse_check_config(kind, c, ".");
    const json resolved = to_json(parsed);
    CHECK(to_json(parse_check_config(kind, resolved, ".")) == resolved);
    CHECK(resolved.contains("check"));
    CHECK(describe(parsed).find(name) != std::string::npos);
  }
  // Seeds a config leaves out derive from its "seed": the same config, the same search.
  const CheckConfig a = parse_check_config(CheckKind::lemma_f2, json{{"seed", 4}}, ".");
  const CheckConfig b = parse_check_config(CheckKind::lemma_f2, json{{"seed", 5}}, ".");
  CHECK(a.probe.search.seed == Rng::derive_seed(4, seed_stream::check));
  CHECK(a.probe.search.seed != b.probe.search.seed);
  // A probe needs no config at all.
  CHECK(parse_check_config(CheckKind::pl_inequality, json(), ".").probe.search.random_points == 400);
}

TEST_CASE("check: bad check configs name the field", "[check]") {
  SECTION("a run config's fields for a probe") {
    require_bad(CheckKind::lemma_f2, run_json(), "dim", {"unknown field 'dim'", "description, seed, check"});
  }
  SECTION("an option of another check") {
    json c = run_json();
    c["check"] = {{"alphas", {0.1}}};
    require_bad(CheckKind::lemma_c1, c, "check.alphas", {"unknown field", "rank_tol"});
  }
  SECTION("sigma only for the Procrustes lemmas") {
    require_bad(CheckKind::pl_inequality, json{{"check", {{"sigma", "min_corrected"}}}}, "check.sigma",
                {"unknown field"});
    require_bad(CheckKind::lemma_e1, json{{"check", {{"sigma", "min"}}}}, "check.sigma",
                {"max_as_stated, min_corrected"});
  }
  SECTION("a nonpositive alpha") {
    json c = run_json();
    c["check"] = {{"alphas", {0.1, 0}}};
    require_bad(CheckKind::theorem_4_1, c, "check.alphas[1]", {"> 0", "got 0"});
  }
  SECTION("tolerances") {
    json c = run_json();
    c["check"] = {{"rank_tol", 2}};
    require_bad(CheckKind::lemma_c1, c, "check.rank_tol", {"(0, 1)", "got 2"});
    c["check"] = {{"recovery_tol", 0.1}, {"failure_tol", 0.01}};
    require_bad(CheckKind::theorem_3_2, c, "check.failure_tol", {"> recovery_tol"});
  }
  SECTION("budgets") {
    require_bad(CheckKind::lemma_5_1, json{{"check", {{"random_points", 0}}}}, "check.random_points",
                {"[1, ", "got 0"});
  }
  SECTION("the run config is checked as for flowsense run") {
    json c = run_json();
    c["stepper"]["rtol"] = 2;
    require_bad(CheckKind::lemma_c1, c, "stepper.rtol", {"(0, 1)"});
  }
}

TEST_CASE("check: lemma_c1 from a config is the library verdict of the same run", "[check]") {
  const CheckConfig c = parse_check_config(CheckKind::lemma_c1, run_json(), ".");
  const Verdict v = run_check(c);
  CHECK(v.status == VerdictStatus::holds);
  CHECK(v.quantity("rank_U0") == 2);
  CHECK(v.quantity("max_rank_along_run") == 2);
  CHECK(v.quantity("observations") == 41);  // t = 0 and the 40 log-spaced times

  // The same objects through the library directly.
  const Experiment e = build_experiment(*c.run);
  RunSetup s;
  s.problem = e.problem;
  s.c = c.run->loss.c;
  s.U0 = e.initial;
  s.options = e.options;
  s.times = e.times;
  const Verdict direct = check_lemma_c1(s);
  CHECK(direct.quantity("max_sigma_r0plus1_over_sigma_1") == v.quantity("max_sigma_r0plus1_over_sigma_1"));
  CHECK(direct.quantity("training_error_end") == v.quantity("training_error_end"));

  // The outputs: the verdict files and a manifest that repeats the check.
  const fs::path dir = fs::temp_directory_path() /
                       ("flowsense_check_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  const json manifest = write_check_outputs(dir.string(), c, v);
  CHECK(manifest["status"] == "holds");
  CHECK(fs::exists(dir / "verdict.json"));
  CHECK(fs::exists(dir / "verdict.md"));
  CHECK(fs::exists(dir / "figure.svg"));
  std::ifstream in(dir / "manifest.json");
  const json written = json::parse(in);
  CHECK(to_json(parse_check_config(CheckKind::lemma_c1, written["config"], ".")) == written["config"]);
  fs::remove_all(dir);
}

TEST_CASE("check: a rank-1 start whose computed full flow escapes the saddle through rounding", "[check]") {
  // d = 10, m = 80, rank-2 truth, a rank-1 start: the exact flow stays rank 1 forever
  // (Lemma C.1) and converges to a rank-1 critical point, a saddle of G. The full 10 x 10
  // factor flow, computed in floating point, leaves the row space of U0 at rounding level
  // and the saddle amplifies that until the rank is 2. The check must not call this a
  // violation of the lemma: the growth is all in the row-space leak.
  json c = json::parse(R"({
    "seed": 1, "dim": 10,
    "operator": {"type": "gaussian", "measurements": 80, "scale": "unit"},
    "planted": {"type": "trace_one", "rank": 2},
    "loss": {"convention": "paper000"},
    "init": {"type": "random", "rank": 1, "width": 10, "norm": 1.0},
    "stepper": {"type": "dopri5", "rtol": 1e-8, "atol": 1e-12},
    "times": {"type": "log", "t_min": 1e-3, "t_end": 16, "points": 30}
  })");
  const Verdict v = run_check(parse_check_config(CheckKind::lemma_c1, c, "."));
  REQUIRE(v.quantity("max_rank_along_run") == 2);  // the computed rank did grow
  CHECK(v.status == VerdictStatus::inconclusive);
  CHECK(v.quantity("max_rank_excess_over_leak_bound") <= 1.0 + 1e-6);
  CHECK(v.quantity("max_row_space_leak") > 1e-8);  // the computed U(t) left the row space
  CHECK_THAT(v.summary, Catch::Matchers::Contains("left the row space"));

  // The exact reduced flow (the default for this start) keeps rank 1 and stays at the
  // saddle's training error; the full flow escapes to the rank-2 solution.
  const RunResult reduced = run(parse_config(c, "."));
  REQUIRE(reduced.flow["integrated"] == "reduced");
  for (double r : reduced.trajectory.column("rank")) CHECK(r == 1);
  c["flow"] = {{"reduced", "off"}};
  const RunResult full = run(parse_config(c, "."));
  CHECK(full.trajectory.column("rank").back() == 2);
  CHECK(full.trajectory.final_value("training_error") < 1e-6 * reduced.trajectory.final_value("training_error"));
}
