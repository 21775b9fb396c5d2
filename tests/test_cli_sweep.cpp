// `flowsense sweep` end to end, through the built binary: a tiny sweep and
// its aggregate against a hand computation from the runs' own CSV files;
// resume after SIGKILL and after Ctrl-C (the aggregate equals that of an
// uninterrupted sweep, byte for byte); bad sweep files and options (exit 2,
// the message names the field). Skipped when the CLI is not built.
#include <catch2/catch.hpp>

#ifdef FLOWSENSE_CLI_PATH

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_process.hpp"
#include "flowsense/trajectory/trajectory.hpp"

using nlohmann::json;
namespace fs = std::filesystem;
using cli_process::TempDir;

namespace {

const std::string cli = FLOWSENSE_CLI_PATH;

/// Paper 000's setting at d = 10 (m = 80, a rank-2 planted matrix), GD and
/// dopri5 from rank-1 and rank-3 starts, `trials` seeded trials each.
json tiny_sweep(double last_iteration, int trials) {
  return json::parse(R"({
    "description": "tiny test sweep",
    "seed": 5,
    "base": {
      "seed": 1, "dim": 10,
      "operator": {"type": "gaussian", "measurements": 80, "scale": "unit"},
      "planted": {"type": "trace_one", "rank": 2},
      "loss": {"convention": "paper000", "learning_rate": 1e-4},
      "init": {"type": "random", "rank": 2, "width": 10, "norm": 1.0},
      "stepper": {"type": "dopri5", "rtol": 1e-8, "atol": 1e-12},
      "times": {"type": "gd_iterations", "spacing": "log", "first": 1, "last": )" +
                     std::to_string(last_iteration) + R"(, "points": 15},
      "stop": {"training_error": {"below": 1e-20}}
    },
    "grid": [{"field": "init.rank", "values": [1, 3]},
             {"field": "stepper", "values": [{"type": "gd"}, {"type": "dopri5"}]}],
    "trials": )" + std::to_string(trials) + R"(,
    "trial_fields": ["init.seed"]
  })");
}

std::string write(const TempDir& tmp, const std::string& name, const json& j) {
  const std::string path = tmp.file(name);
  std::ofstream(path) << j.dump(2);
  return path;
}

int complete_runs(const fs::path& out) {
  int n = 0;
  std::error_code ec;
  if (!fs::exists(out / "runs", ec)) return 0;
  for (const auto& e : fs::directory_iterator(out / "runs", ec))
    if (fs::exists(e.path() / "manifest.json", ec)) ++n;
  return n;
}

/// Starts the sweep in the background, waits until `at_least` runs are
/// complete, sends `sig`, and returns the exit status and the runs complete then.
std::pair<int, int> interrupt_after(const std::string& sweep, const std::string& out, int at_least, int sig,
                                    const TempDir& tmp) {
  const pid_t pid = cli_process::spawn(cli, {"sweep", sweep, "--out", out, "--threads", "1"}, tmp.file("bg.out"),
                                       tmp.file("bg.err"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (complete_runs(out) < at_least && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, sig);
  const int status = cli_process::wait_status(pid);
  return {status, complete_runs(out)};
}

}  // namespace

TEST_CASE("cli sweep: a tiny sweep runs, aggregates as the runs say, and resumes as a no-op", "[cli][sweep]") {
  TempDir tmp;
  const std::string sweep = write(tmp, "sweep.json", tiny_sweep(3000, 2));
  const std::string out = tmp.file("out");
  const auto r = cli_process::run(cli, {"sweep", sweep, "--out", out, "--threads", "2"}, tmp);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains("tiny test sweep"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("test_error (final, mean +- std/2)"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("8/8 done"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("0 failed"));

  // The aggregate against a hand computation from each run's trajectory.csv.
  const json points = json::parse(cli_process::slurp(out + "/points.json"));
  REQUIRE(points.size() == 4);
  for (const auto& p : points) {
    CHECK(p["trials_complete"] == 2);
    double values[2];
    for (int t = 0; t < 2; ++t) {
      char id[32];
      std::snprintf(id, sizeof id, "g%03d_t%d", p["point"].get<int>(), t);
      const auto traj = flowsense::read_trajectory_csv(out + "/runs/" + id + "/trajectory.csv");
      values[t] = traj.final_value("test_error");
    }
    const double mean = (values[0] + values[1]) / 2;
    const double std = std::abs(values[0] - values[1]) / std::sqrt(2.0);  // n - 1 = 1
    INFO("point " << p["point"]);
    CHECK_THAT(p["final"]["test_error"]["mean"].get<double>(), Catch::Matchers::WithinRel(mean, 1e-12));
    CHECK_THAT(p["final"]["test_error"]["std"].get<double>(), Catch::Matchers::WithinAbs(std, 1e-12 * mean));
    CHECK_THAT(p["final"]["test_error"]["lo"].get<double>(),
               Catch::Matchers::WithinRel(mean - std / 2, 1e-10));
  }
  const json spec = json::parse(cli_process::slurp(out + "/sweep.json"));
  CHECK(spec["total"] == 8);
  CHECK(spec["failed"] == 0);

  // The same command again: everything is skipped, the aggregate is unchanged.
  const std::string aggregate = cli_process::slurp(out + "/aggregate.csv");
  const auto again = cli_process::run(cli, {"sweep", sweep, "--out", out}, tmp);
  CHECK(again.status == 0);
  CHECK_THAT(again.err, Catch::Matchers::Contains("all 8 runs already complete"));
  CHECK(cli_process::slurp(out + "/aggregate.csv") == aggregate);
}

TEST_CASE("cli sweep: killed with SIGKILL mid-sweep, the rerun gives the uninterrupted aggregate", "[cli][sweep]") {
  TempDir tmp;
  const std::string sweep = write(tmp, "sweep.json", tiny_sweep(20000, 4));  // 16 runs
  const std::string out = tmp.file("killed"), reference = tmp.file("reference");
  const auto [status, before] = interrupt_after(sweep, out, 3, SIGKILL, tmp);
  INFO("runs complete when killed: " << before);
  CHECK(status == 128 + SIGKILL);
  CHECK(before >= 3);
  CHECK(before < 16);
  CHECK_FALSE(fs::exists(out + "/aggregate.csv"));

  const auto resumed = cli_process::run(cli, {"sweep", sweep, "--out", out, "--threads", "2"}, tmp);
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.err, Catch::Matchers::Contains("16/16 done (" + std::to_string(before) + " from before)"));
  const auto fresh = cli_process::run(cli, {"sweep", sweep, "--out", reference, "--threads", "2"}, tmp);
  REQUIRE(fresh.status == 0);
  CHECK(cli_process::slurp(out + "/aggregate.csv") == cli_process::slurp(reference + "/aggregate.csv"));
}

TEST_CASE("cli sweep: Ctrl-C records no half run, exits 1, and the rerun completes", "[cli][sweep]") {
  TempDir tmp;
  const std::string sweep = write(tmp, "sweep.json", tiny_sweep(20000, 4));
  const std::string out = tmp.file("interrupted");
  const auto [status, before] = interrupt_after(sweep, out, 2, SIGINT, tmp);
  INFO("runs complete when interrupted: " << before);
  CHECK(status == 1);
  CHECK_THAT(cli_process::slurp(tmp.file("bg.err")), Catch::Matchers::Contains("interrupted"));
  // Every run directory with a manifest is a whole run: it reached its last
  // observation time or a stop rule, never "interrupted".
  int recorded = 0;
  for (const auto& e : fs::directory_iterator(fs::path(out) / "runs")) {
    if (!fs::exists(e.path() / "manifest.json")) continue;
    ++recorded;
    const json m = json::parse(cli_process::slurp((e.path() / "manifest.json").string()));
    CHECK(m["summary"]["termination"] != "interrupted");
  }
  CHECK(recorded < 16);
  const json spec = json::parse(cli_process::slurp(out + "/sweep.json"));
  CHECK(spec["cancelled"] == true);

  const auto resumed = cli_process::run(cli, {"sweep", sweep, "--out", out}, tmp);
  INFO(resumed.err);
  CHECK(resumed.status == 0);
  CHECK(complete_runs(out) == 16);
}

TEST_CASE("cli sweep: bad sweep files and options exit 2 and name the problem", "[cli][sweep]") {
  TempDir tmp;
  const std::string out = tmp.file("out");
  auto expect = [&](const std::vector<std::string>& args, const std::string& message) {
    const auto r = cli_process::run(cli, args, tmp);
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Matchers::Contains(message));
  };
  expect({"sweep", tmp.file("missing.json"), "--out", out}, "cannot open");
  expect({"sweep", write(tmp, "s.json", tiny_sweep(100, 1))}, "missing --out DIR");
  expect({"sweep", write(tmp, "s.json", tiny_sweep(100, 1)), "--out", out, "--threads", "0"},
         "--threads: expected an integer in [1, 1024], got '0'");
  expect({"sweep", write(tmp, "s.json", tiny_sweep(100, 1)), "--out", out, "--bogus"}, "unknown option '--bogus'");

  json empty_axis = tiny_sweep(100, 1);
  empty_axis["grid"][1]["values"] = json::array();
  expect({"sweep", write(tmp, "e.json", empty_axis), "--out", out}, "grid[1].values: expected a non-empty array");

  json bad_value = tiny_sweep(100, 1);
  bad_value["grid"][0] = {{"field", "init.norm"}, {"values", {1.0, -2.0}}};
  expect({"sweep", write(tmp, "b.json", bad_value), "--out", out}, "init.norm");

  json no_trial_field = tiny_sweep(100, 3);
  no_trial_field.erase("trial_fields");
  expect({"sweep", write(tmp, "t.json", no_trial_field), "--out", out}, "trial_fields");

  expect({"sweep", write(tmp, "s.json", tiny_sweep(100, 1)), "--out", out, "--set", "base.loss.learning_rate=-1"},
         "loss.learning_rate");
  CHECK_FALSE(fs::exists(out));  // nothing ran

  // A different sweep into a directory that holds one is refused.
  const std::string one = write(tmp, "one.json", tiny_sweep(100, 1));
  REQUIRE(cli_process::run(cli, {"sweep", one, "--out", out}, tmp).status == 0);
  expect({"sweep", one, "--out", out, "--set", "seed=6"}, "holds the runs of a different sweep (it differs in: seed)");
}

#endif  // FLOWSENSE_CLI_PATH
