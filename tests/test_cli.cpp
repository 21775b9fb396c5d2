// The flowsense command-line tool end to end: the built binary on
// examples/configs/example_small.json, its exit codes, outputs, error
// messages and its handling of Ctrl-C. Skipped when the CLI is not built.
#include <catch2/catch.hpp>

#ifdef FLOWSENSE_CLI_PATH

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_process.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/version.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string cli = FLOWSENSE_CLI_PATH;
const std::string small_config = std::string(FLOWSENSE_EXAMPLES_DIR) + "/example_small.json";

using cli_process::Result;
using cli_process::slurp;
using cli_process::TempDir;

/// Runs the CLI with `args` (no shell), capturing stdout and stderr.
Result run_cli(const std::vector<std::string>& args, const TempDir& tmp) { return cli_process::run(cli, args, tmp); }

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

}  // namespace

TEST_CASE("cli: help texts", "[cli]") {
  TempDir tmp;
  const Result main_help = run_cli({"--help"}, tmp);
  CHECK(main_help.status == 0);
  CHECK_THAT(main_help.out, Catch::Matchers::Contains("flowsense run CONFIG.json --out DIR"));
  CHECK_THAT(main_help.out, Catch::Matchers::Contains("flowsense validate CONFIG.json"));
  const Result run_help = run_cli({"run", "--help"}, tmp);
  CHECK(run_help.status == 0);
  CHECK_THAT(run_help.out, Catch::Matchers::Contains("--set FIELD=VALUE"));
  CHECK_THAT(run_help.out, Catch::Matchers::Contains("manifest.json"));
  const Result none = run_cli({}, tmp);
  CHECK(none.status == 2);
  CHECK_THAT(none.err, Catch::Matchers::Contains("missing command"));
}

TEST_CASE("cli: run writes the trajectory, snapshots and manifest", "[cli]") {
  TempDir tmp;
  const std::string out = tmp.file("run");
  const Result r = run_cli({"run", small_config, "--out", out}, tmp);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.err, Catch::Matchers::Contains("target_reached"));

  const json m = read_json(out + "/manifest.json");
  CHECK(m["status"] == "ok");
  CHECK(m["flowsense_version"].is_string());
  // The build that made the run (FLOWSENSE_NATIVE_ARCH: "-march=native" or "").
  CHECK(m["build"]["arch_flags"] == std::string(flowsense::build_arch_flags));
  CHECK(m["build"]["compiler"].get<std::string>().size() > 1);
  CHECK(m["config"]["operator"]["seed"] ==
        flowsense::Rng::derive_seed(1, flowsense::seed_stream::sensing_operator));
  // One CSV line per row plus the header.
  const std::string csv = slurp(out + "/trajectory.csv");
  CHECK(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')) ==
        m["trajectory"]["rows"].get<std::size_t>() + 1);
  REQUIRE(!m["snapshots"]["files"].empty());
  for (const auto& f : m["snapshots"]["files"]) {
    const flowsense::Matrix U = flowsense::read_npy_matrix(out + "/" + f["file"].get<std::string>());
    CHECK(U.rows() == 10);
  }

  // The same command again refuses to overwrite; --force replaces.
  const Result again = run_cli({"run", small_config, "--out", out}, tmp);
  CHECK(again.status == 2);
  CHECK_THAT(again.err, Catch::Matchers::Contains("already holds a run"));
  const Result forced = run_cli({"run", small_config, "--out", out, "--force", "--quiet"}, tmp);
  CHECK(forced.status == 0);
  CHECK(forced.err.empty());
  // Same config, same seed: the same numbers.
  CHECK(slurp(out + "/trajectory.csv") == csv);
}

TEST_CASE("cli: validate checks without running, and names the bad field", "[cli]") {
  TempDir tmp;
  const Result ok = run_cli({"validate", small_config}, tmp);
  CHECK(ok.status == 0);
  CHECK_THAT(ok.out, Catch::Matchers::Contains("valid: "));
  CHECK_THAT(ok.out, Catch::Matchers::Contains("GD step h = 0.0008"));

  const Result printed = run_cli({"validate", small_config, "--print", "--set", "seed=5"}, tmp);
  CHECK(printed.status == 0);
  CHECK(json::parse(printed.out)["seed"] == 5);

  const Result bad = run_cli({"validate", small_config, "--set", "stepper.rtol=-1"}, tmp);
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Matchers::Contains("stepper.rtol: expected a relative tolerance in (0, 1), got -1"));

  const Result typo = run_cli({"validate", small_config, "--set", "stepper.rtl=1e-9"}, tmp);
  CHECK(typo.status == 2);
  CHECK_THAT(typo.err, Catch::Matchers::Contains("unknown field 'rtl' in 'stepper'"));

  const Result missing = run_cli({"validate", tmp.file("absent.json")}, tmp);
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Matchers::Contains("cannot open the config file"));

  const Result usage = run_cli({"run", small_config}, tmp);
  CHECK(usage.status == 2);
  CHECK_THAT(usage.err, Catch::Matchers::Contains("missing --out DIR"));
}

TEST_CASE("cli: a diverged run exits 1 and still writes its outputs", "[cli]") {
  TempDir tmp;
  const std::string out = tmp.file("diverged");
  const Result r = run_cli({"run", small_config, "--out", out, "--set", "loss.learning_rate=1", "--set",
                            "init.norm=10", "--set", "stepper={\"type\":\"gd\"}", "--set",
                            "stop={\"max_state_norm\":1e6}"},
                           tmp);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Matchers::Contains("diverged"));
  const json m = read_json(out + "/manifest.json");
  CHECK(m["status"] == "abnormal");
  CHECK(m["summary"]["termination"] == "diverged");
  CHECK(m["stopped_at"]["step"].get<int>() >= 1);
  CHECK(fs::exists(out + "/trajectory.csv"));
}

TEST_CASE("cli: Ctrl-C stops the run and keeps what it recorded", "[cli]") {
  TempDir tmp;
  const std::string out = tmp.file("interrupted");
  // A run far too long to finish (1e9 GD iterations), with a guard budget.
  const std::vector<std::string> args = {"run", small_config, "--out", out, "--set", "times.last=1e9", "--set",
                                         "stop={\"max_seconds\":60}"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv = {const_cast<char*>(cli.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(cli.c_str(), argv.data());
    ::_exit(127);
  }
  // The output directory appears once the handlers are installed.
  for (int i = 0; i < 600 && !fs::exists(out); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  const json m = read_json(out + "/manifest.json");
  CHECK(m["summary"]["termination"] == "interrupted");
  CHECK_THAT(m["summary"]["message"].get<std::string>(), Catch::Matchers::Contains("SIGINT"));
  CHECK(m["trajectory"]["rows"].get<int>() >= 2);
}

TEST_CASE("cli: the rank_one + noise example config runs (tiny size) and its manifest carries the operator, "
          "noise and memory",
          "[cli][config_ops]") {
  TempDir tmp;
  const std::string config = std::string(FLOWSENSE_EXAMPLES_DIR) + "/rank_one_noise.json";
  const std::string out = tmp.file("r1");
  const Result r = run_cli({"run", config, "--out", out, "--quiet", "--set", "dim=12", "--set",
                            "operator.measurements=150"},
                           tmp);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json m = read_json(out + "/manifest.json");
  CHECK(m["config"]["operator"]["type"] == "rank_one");
  CHECK(m["config"]["noise"]["sigma"] == 1e-3);
  CHECK(m["config"]["noise"]["seed"] == flowsense::Rng::derive_seed(6, flowsense::seed_stream::noise));
  CHECK(m["problem"]["operator"] == "rank_one");
  CHECK(m["problem"]["measurements"] == 150);
  CHECK(m["problem"]["operator_bytes"] == 8.0 * 150 * 12);
  CHECK(m["resources"]["peak_memory_bytes"].get<double>() > 0);
  CHECK(m["resources"]["seconds_per_rhs"].get<double>() > 0);
  // The rank-2 fit absorbs k = 2d - 1 = 23 of the m = 150 noise directions:
  // its training error sits below the noise floor ||sigma eps||^2 (about
  // sigma^2 (m - k) against sigma^2 m, a ratio near 0.85), not at 0.
  const double floor = m["problem"]["noise_energy"].get<double>();
  const double training = m["final"]["training_error"].get<double>();
  INFO("training error " << training << ", noise floor " << floor);
  CHECK(training < floor);
  CHECK(training > 0.5 * floor);
}

TEST_CASE("cli: validate reports bad operator and noise fields", "[cli][config_ops]") {
  TempDir tmp;
  const std::string config = std::string(FLOWSENSE_EXAMPLES_DIR) + "/rank_one_noise.json";
  const Result type = run_cli({"validate", config, "--set", "operator.type=\"rank1\""}, tmp);
  CHECK(type.status == 2);
  CHECK_THAT(type.err, Catch::Matchers::Contains(
                           "operator.type: unknown operator type 'rank1'; allowed: gaussian, rank_one, "
                           "entry_sampling, matrices, full"));
  const Result sigma = run_cli({"validate", config, "--set", "noise.sigma=-1"}, tmp);
  CHECK(sigma.status == 2);
  CHECK_THAT(sigma.err, Catch::Matchers::Contains("noise.sigma: expected a noise level sigma >= 0"));
  const Result m = run_cli({"validate", config, "--set", "operator.measurements=-5"}, tmp);
  CHECK(m.status == 2);
  CHECK_THAT(m.err, Catch::Matchers::Contains("operator.measurements: expected a positive number of measurements m, got -5"));
  const Result file = run_cli(
      {"validate", config, "--set", "operator={\"type\":\"matrices\",\"path\":\"" + tmp.file("absent.npy") + "\"}"},
      tmp);
  CHECK(file.status == 2);
  CHECK_THAT(file.err, Catch::Matchers::Contains("operator.path: " + tmp.file("absent.npy")));
  // The d = 2000 config (examples/configs/large/, kept out of the per-config
  // validate tests: building its operator and data takes minutes), checked
  // at a small size.
  const Result large = run_cli({"validate", std::string(FLOWSENSE_EXAMPLES_DIR) + "/large/large_rank_one.json",
                                "--set", "dim=40", "--set", "operator.measurements=800"},
                               tmp);
  CHECK(large.status == 0);
  CHECK_THAT(large.out, Catch::Matchers::Contains("operator rank_one (m = 800)"));
  const Result mask = run_cli(
      {"validate", config, "--set", "operator={\"type\":\"entry_sampling\",\"mask\":[[0,1],[3,2]]}"}, tmp);
  CHECK(mask.status == 2);
  CHECK_THAT(mask.err, Catch::Matchers::Contains("operator.mask: entry 1 = (3, 2) has i > j"));
}

#endif  // FLOWSENSE_CLI_PATH
