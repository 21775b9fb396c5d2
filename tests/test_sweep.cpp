// Sweeps: expansion, aggregation against a hand computation, independence of
// the thread count, and resume after SIGKILL without losing or changing runs.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "flowsense/core/error.hpp"
#include "flowsense/experiment/sweep.hpp"
#include "flowsense/trajectory/trajectory.hpp"

using namespace flowsense;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json small_base() {
  return json::parse(R"({
    "seed": 3, "dim": 6,
    "operator": {"type": "gaussian", "measurements": 30, "scale": "unit"},
    "planted": {"type": "trace_one", "rank": 1},
    "loss": {"convention": "paper000", "learning_rate": 1e-3},
    "init": {"type": "random", "rank": 2, "width": 6, "norm": 0.5},
    "stepper": {"type": "dopri5", "rtol": 1e-9, "atol": 1e-12},
    "times": {"type": "gd_iterations", "spacing": "log", "first": 1, "last": 3000, "points": 12}
  })");
}

SweepSpec small_sweep(int trials = 3) {
  json s = {{"seed", 11},
            {"base", small_base()},
            {"grid", json::array({{{"field", "init.rank"}, {"values", {1, 6}}},
                                  {{"field", "stepper"}, {"values", json::array({{{"type", "gd"}}, {{"type", "dopri5"}}})}}})},
            {"trials", trials},
            {"trial_fields", {"init.seed"}}};
  return parse_sweep(s, ".");
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("flowsense_test_sweep_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("a sweep expands grid x trials with per-trial seeds", "[sweep]") {
  const auto spec = small_sweep();
  const auto runs = expand_sweep(spec);
  REQUIRE(runs.size() == 2 * 2 * 3);
  CHECK(runs[0].id == "g000_t0");
  CHECK(runs[0].params["init.rank"] == 1);
  CHECK(runs[3].params["stepper"]["type"] == "dopri5");  // last axis fastest
  CHECK(runs[6].params["init.rank"] == 6);
  // Trials differ in the seed only; grid points share a trial's seed.
  CHECK(runs[0].config["init"]["seed"] != runs[1].config["init"]["seed"]);
  CHECK(runs[0].config["init"]["seed"] == runs[3].config["init"]["seed"]);
  CHECK(runs[0].config["operator"] == runs[5].config["operator"]);
}

TEST_CASE("bad sweep files name the field", "[sweep]") {
  auto error_of = [](const json& j) {
    try {
      parse_sweep(j, ".");
    } catch (const InputError& e) {
      return e.where();
    }
    return std::string("no error");
  };
  json s = {{"base", small_base()}, {"trials", 2}};
  CHECK(error_of(s) == "trial_fields");
  s = {{"base", small_base()}, {"grid", json::array({{{"field", "init.norm"}, {"values", json::array()}}})}};
  CHECK(error_of(s) == "grid[0].values");
  s = {{"base", small_base()}, {"grid", json::array({{{"field", "init.norm"}, {"values", {-1.0}}}})}};
  CHECK(error_of(s).rfind("run g000_t0", 0) == 0);  // the run's own config error, named by run
  s = {{"bsae", small_base()}};
  CHECK(error_of(s) == "bsae");
}

TEST_CASE("mean and half standard deviation as the papers plot them", "[sweep]") {
  // Hand computation: values 1, 2, 4 -> mean 7/3, sample variance
  // ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = (16 + 1 + 25) / 18 = 7/3.
  const MeanStd m = mean_and_std({1.0, 2.0, 4.0, std::nan("")});
  CHECK(m.n == 3);
  CHECK_THAT(m.mean, Catch::Matchers::WithinRel(7.0 / 3.0, 1e-15));
  CHECK_THAT(m.std, Catch::Matchers::WithinRel(std::sqrt(7.0 / 3.0), 1e-15));
  CHECK(mean_and_std({5.0}).std == 0.0);
}

TEST_CASE("sweep results do not depend on the thread count, and aggregate matches the runs", "[sweep]") {
  const auto spec = small_sweep();
  const auto one = fresh_dir("one"), two = fresh_dir("two");
  SweepOptions o1;
  o1.threads = 1;
  SweepOptions o2;
  o2.threads = 2;
  const auto r1 = run_sweep(spec, one.string(), o1);
  const auto r2 = run_sweep(spec, two.string(), o2);
  CHECK(r1.completed == 12);
  CHECK(r1.failed == 0);
  CHECK(r2.completed == 12);
  for (const auto& run : expand_sweep(spec))
    CHECK(slurp(one / "runs" / run.id / "trajectory.csv") == slurp(two / "runs" / run.id / "trajectory.csv"));

  aggregate_sweep(spec, one.string());
  const Trajectory agg = read_trajectory_csv((one / "aggregate.csv").string());
  // Recompute grid point 0's test error mean at row 5 from its three runs.
  std::vector<double> v;
  for (int t = 0; t < 3; ++t)
    v.push_back(read_trajectory_csv((one / "runs" / ("g000_t" + std::to_string(t)) / "trajectory.csv").string())
                    .column("test_error")[5]);
  const MeanStd m = mean_and_std(v);
  const auto rows = agg.column("row");
  const auto points = agg.column("point");
  std::size_t k = 0;
  while (!(points[k] == 0 && rows[k] == 5)) ++k;
  CHECK(agg.column("test_error_mean")[k] == m.mean);
  CHECK(agg.column("test_error_lo")[k] == m.mean - m.std / 2);
  CHECK(agg.column("test_error_n")[k] == 3);
  fs::remove_all(one);
  fs::remove_all(two);
}

TEST_CASE("a sweep killed with SIGKILL resumes and loses nothing", "[sweep]") {
  const auto spec = small_sweep(4);
  const auto dir = fresh_dir("kill"), reference = fresh_dir("ref");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    SweepOptions o;
    o.threads = 1;
    // Slow the child down so that the kill lands mid-sweep.
    o.progress = [](const SweepProgress&) { std::this_thread::sleep_for(std::chrono::milliseconds(300)); };
    run_sweep(spec, dir.string(), o);
    ::_exit(0);
  }
  // Kill the child as soon as a few runs are complete.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto complete = [&] {
    int n = 0;
    for (const auto& run : expand_sweep(spec))
      if (fs::exists(dir / "runs" / run.id / "manifest.json")) ++n;
    return n;
  };
  while (complete() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  const int before = complete();
  INFO("runs complete when killed: " << before);
  CHECK(before >= 3);
  CHECK(before < 16);

  SweepOptions o;
  o.threads = 2;
  const auto resumed = run_sweep(spec, dir.string(), o);
  CHECK(resumed.skipped == static_cast<std::size_t>(before));
  CHECK(resumed.skipped + resumed.completed == resumed.total);
  run_sweep(spec, reference.string(), o);
  for (const auto& run : expand_sweep(spec))
    CHECK(slurp(dir / "runs" / run.id / "trajectory.csv") == slurp(reference / "runs" / run.id / "trajectory.csv"));
  fs::remove_all(dir);
  fs::remove_all(reference);
}
