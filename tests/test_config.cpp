// Run configs: every bad input is an InputError that names the field path and
// says what is wrong; valid configs resolve, round-trip through their JSON,
// and repeat a run bit for bit.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/run.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/problem/planted.hpp"

#include "config_testing.hpp"

using namespace flowsense;
using nlohmann::json;
namespace fs = std::filesystem;
using flowsense::testing::require_bad;
using flowsense::testing::TempDir;

namespace {

/// A small valid config: d = 6, m = 30, rank-2 planted, rank-2 start.
json base_config() {
  return json::parse(R"({
    "seed": 11,
    "dim": 6,
    "operator": {"type": "gaussian", "measurements": 30, "scale": "unit"},
    "planted": {"type": "trace_one", "rank": 2},
    "loss": {"convention": "paper000", "learning_rate": 1e-3},
    "init": {"type": "random", "rank": 2, "width": 6, "norm": 0.5},
    "stepper": {"type": "dopri5", "rtol": 1e-9, "atol": 1e-12},
    "times": {"type": "gd_iterations", "spacing": "log", "first": 1, "last": 2000, "points": 12},
    "observe": {"rank_tol": 1e-8, "singular_values": 3}
  })");
}

/// A symmetric PSD 6 x 6 matrix of rank 2.
Matrix psd6() { return planted_trace_one(6, 2, 5); }

}  // namespace

TEST_CASE("config: the base config is valid", "[config]") {
  const RunConfig c = parse_config(base_config(), ".");
  CHECK(c.dim == 6);
  CHECK(c.op.measurements == 30);
  CHECK(c.loss.c == 0.25);
  CHECK(c.loss.gd_step() == 8e-3);  // paper 000: h = 8 eta
  CHECK(c.stepper.options.stepper == StepperKind::dopri5);
  CHECK(c.times.times.front() == 0.0);
}

TEST_CASE("config: missing fields and wrong types name the field", "[config]") {
  json c = base_config();
  SECTION("missing dim") {
    c.erase("dim");
    require_bad(c, "dim", {"missing required field", "positive integer"});
  }
  SECTION("missing operator.measurements") {
    c["operator"].erase("measurements");
    require_bad(c, "operator.measurements", {"missing required field"});
  }
  SECTION("missing planted section") {
    c.erase("planted");
    require_bad(c, "planted", {"missing required field", "trace_one"});
  }
  SECTION("missing loss constant") {
    c["loss"] = {{"learning_rate", 1e-3}};
    require_bad(c, "loss.c", {"missing required field", "paper000"});
  }
  SECTION("wrong type: a string for a number") {
    c["init"]["norm"] = "one";
    require_bad(c, "init.norm", {"expected a number", "\"one\" (a string)"});
  }
  SECTION("wrong type: a fractional integer") {
    c["operator"]["measurements"] = 2.5;
    require_bad(c, "operator.measurements", {"expected an integer", "2.5"});
  }
  SECTION("wrong type: a section that is not an object") {
    c["stepper"] = "dopri5";
    require_bad(c, "stepper", {"expected a JSON object", "\"dopri5\""});
  }
  SECTION("wrong type: a negative seed") {
    c["seed"] = -1;
    require_bad(c, "seed", {"expected a seed", "-1"});
  }
  SECTION("wrong type: a boolean that is not") {
    c["stop"] = {{"training_error", {{"below", 1e-6}, {"relative", "yes"}}}};
    require_bad(c, "stop.training_error.relative", {"expected true or false", "\"yes\""});
  }
}

TEST_CASE("config: out-of-range values name the field, the value and the range", "[config]") {
  json c = base_config();
  SECTION("negative relative tolerance") {
    c["stepper"]["rtol"] = -1e-8;
    require_bad(c, "stepper.rtol", {"(0, 1)", "-1e-08"});
  }
  SECTION("negative absolute tolerance") {
    c["stepper"]["atol"] = -1;
    require_bad(c, "stepper.atol", {"nonnegative", "got -1"});
  }
  SECTION("planted rank larger than d") {
    c["planted"]["rank"] = 7;
    require_bad(c, "planted.rank", {"[1, d = 6]", "got 7"});
  }
  SECTION("init rank larger than the width") {
    c["init"]["width"] = 3;
    c["init"]["rank"] = 5;
    require_bad(c, "init.rank", {"min(d, width) = 3", "got 5"});
  }
  SECTION("nonpositive init norm") {
    c["init"]["norm"] = 0;
    require_bad(c, "init.norm", {"positive", "got 0"});
  }
  SECTION("nonpositive measurements") {
    c["operator"]["measurements"] = 0;
    require_bad(c, "operator.measurements", {"positive number of measurements", "got 0"});
  }
  SECTION("a negative eigenvalue of the orthogonal model") {
    c["planted"] = {{"type", "orthogonal"}, {"eigenvalues", {1.0, -0.5}}};
    require_bad(c, "planted.eigenvalues[1]", {"positive eigenvalue", "-0.5"});
  }
  SECTION("a zero training error level") {
    c["stop"] = {{"training_error", {{"below", 0}}}};
    require_bad(c, "stop.training_error.below", {"positive", "got 0"});
  }
  SECTION("a negative learning rate") {
    c["loss"]["learning_rate"] = -1e-4;
    require_bad(c, "loss.learning_rate", {"positive", "-0.0001"});
  }
  SECTION("a loss constant that contradicts the convention") {
    c["loss"]["c"] = 0.5;
    require_bad(c, "loss.c", {"contradicts convention 'paper000'", "c = 0.25"});
  }
  SECTION("too many singular values") {
    c["observe"]["singular_values"] = 9;
    require_bad(c, "observe.singular_values", {"[0, min(d, width) = 6]", "got 9"});
  }
}

TEST_CASE("config: unknown names are errors with the allowed ones", "[config]") {
  json c = base_config();
  SECTION("unknown field in a section") {
    c["stepper"] = {{"type", "rk4"}, {"stepr", 1e-3}};
    require_bad(c, "stepper.stepr", {"unknown field 'stepr' in 'stepper'", "allowed: type, step", "did you mean 'step'"});
  }
  SECTION("unknown field at the top level") {
    c["sed"] = 3;
    require_bad(c, "sed", {"unknown field 'sed' at the top level", "did you mean 'seed'"});
  }
  SECTION("a misspelt type") {
    c["init"] = {{"typ", "random"}, {"rank", 2}, {"norm", 1}};
    require_bad(c, "init.typ", {"unknown field 'typ'", "did you mean 'type'"});
  }
  SECTION("a field of another branch") {
    c["stepper"] = {{"type", "dopri5"}, {"step", 1e-3}};
    require_bad(c, "stepper.step", {"unknown field 'step' in 'stepper'", "first_step"});
  }
  SECTION("unknown stepper") {
    c["stepper"] = {{"type", "rk5"}};
    require_bad(c, "stepper.type", {"unknown stepper 'rk5'", "allowed: gd, euler, rk4, dopri5"});
  }
  SECTION("unknown operator") {
    c["operator"] = {{"type", "sparse"}};
    require_bad(c, "operator.type", {"unknown operator type 'sparse'", "allowed: gaussian, rank_one, entry_sampling, matrices, full"});
  }
  SECTION("unknown scale") {
    c["operator"]["scale"] = "sqrt";
    require_bad(c, "operator.scale", {"unknown scale 'sqrt'", "unit, inv_sqrt_m"});
  }
  SECTION("unknown planted model") {
    c["planted"]["type"] = "lowrank";
    require_bad(c, "planted.type", {"unknown planted model 'lowrank'", "trace_one, orthogonal, file"});
  }
  SECTION("unknown snapshot kind") {
    c["observe"]["snapshots"] = "all";
    require_bad(c, "observe.snapshots", {"unknown snapshot kind 'all'", "none, factor, gram"});
  }
  SECTION("unknown flow") {
    c["flow"] = "reduced";
    require_bad(c, "flow", {"unknown flow 'reduced'", "factor, gram"});
  }
}

TEST_CASE("config: the stiff steppers' options", "[config]") {
  json c = base_config();
  SECTION("a stiff option out of range") {
    c["stepper"] = {{"type", "rkc"}, {"stiff", {{"rkc_max_stages", 1}}}};
    require_bad(c, "stepper.stiff.rkc_max_stages", {"[2, 10000]", "got 1"});
  }
  SECTION("an unknown stiff option") {
    c["stepper"] = {{"type", "rosenbrock"}, {"stiff", {{"dense_max", 10}}}};
    require_bad(c, "stepper.stiff.dense_max", {"unknown field 'dense_max' in 'stepper.stiff'", "dense_max_size"});
  }
  SECTION("stiff options on an explicit stepper") {
    c["stepper"] = {{"type", "dopri5"}, {"stiff", json::object()}};
    require_bad(c, "stepper.stiff", {"unknown field 'stiff' in 'stepper'"});
  }
  SECTION("stiff options reach the integrator and the resolved config") {
    c["stepper"] = {{"type", "auto"}, {"stiff", {{"rkc_max_stages", 17}, {"krylov_tolerance", 0.05}}}};
    const RunConfig rc = parse_config(c, ".");
    CHECK(build_experiment(rc).options.stiff.rkc_max_stages == 17);
    const json resolved = to_json(rc);
    CHECK(resolved["stepper"]["stiff"]["krylov_tolerance"] == 0.05);
    CHECK(resolved["stepper"]["stiff"]["dense_max_size"] == StiffOptions{}.dense_max_size);
    CHECK(to_json(parse_config(resolved, ".")) == resolved);
    CHECK(run(rc).trajectory.summary.ok());
  }
}

TEST_CASE("config: log time for the adaptive steppers", "[config][log_time]") {
  json c = base_config();
  SECTION("reaches the integrator and the resolved config") {
    c["stepper"] = {{"type", "bdf"}, {"time", "log"}, {"log_time_scale", 1e-6}};
    const RunConfig rc = parse_config(c, ".");
    CHECK(build_experiment(rc).options.time == TimeVariable::log);
    CHECK(build_experiment(rc).options.log_time_scale == 1e-6);
    const json resolved = to_json(rc);
    CHECK(resolved["stepper"]["time"] == "log");
    CHECK(to_json(parse_config(resolved, ".")) == resolved);
    const RunResult r = run(rc);
    CHECK(r.trajectory.summary.ok());
    CHECK_THAT(r.trajectory.summary.stepper_choice, Catch::Contains("log time"));
  }
  SECTION("an unknown time variable") {
    c["stepper"] = {{"type", "dopri5"}, {"time", "logarithmic"}};
    require_bad(c, "stepper.time", {"unknown time variable 'logarithmic'", "allowed: flow, log, auto"});
  }
  SECTION("\"auto\" is the default for stepper auto only, explicit values win, and it round-trips") {
    c["stepper"] = {{"type", "auto"}};
    RunConfig rc = parse_config(c, ".");
    CHECK(rc.stepper.options.time == TimeVariable::automatic);
    json resolved = to_json(rc);
    CHECK(resolved["stepper"]["time"] == "auto");
    CHECK(to_json(parse_config(resolved, ".")) == resolved);
    // The base config's start (norm 0.5, d = 6) is near the data: flow
    // time, and the reason is in the summary (the manifest's stepper_choice).
    const RunResult r = run(rc);
    REQUIRE(r.trajectory.summary.ok());
    CHECK_THAT(r.trajectory.summary.stepper_choice, Catch::Contains("not self-similar"));
    CHECK_THAT(r.trajectory.summary.stepper_choice, Catch::Contains("flow time"));
    for (const std::string given : {"flow", "log"}) {
      c["stepper"] = {{"type", "auto"}, {"time", given}};
      rc = parse_config(c, ".");
      CHECK(rc.stepper.options.time == (given == "log" ? TimeVariable::log : TimeVariable::flow));
      CHECK(to_json(rc)["stepper"]["time"] == given);
    }
    c["stepper"] = {{"type", "auto"}, {"time", "auto"}, {"log_time_scale", 1e-6}};
    resolved = to_json(parse_config(c, "."));
    CHECK(resolved["stepper"]["log_time_scale"] == 1e-6);
    CHECK(to_json(parse_config(resolved, ".")) == resolved);
    // Every other stepper: flow time unless told.
    c["stepper"] = {{"type", "bdf"}};
    rc = parse_config(c, ".");
    CHECK(rc.stepper.options.time == TimeVariable::flow);
    CHECK(to_json(rc)["stepper"]["time"] == "flow");
  }
  SECTION("\"auto\" on a stepper that does not choose") {
    c["stepper"] = {{"type", "bdf"}, {"time", "auto"}};
    require_bad(c, "stepper.time", {"only for stepper \"auto\"", "stepper \"bdf\"", "use \"flow\" or \"log\""});
  }
  SECTION("a scale without log time") {
    c["stepper"] = {{"type", "dopri5"}, {"log_time_scale", 1e-6}};
    require_bad(c, "stepper.log_time_scale", {"only used with \"time\": \"log\""});
  }
  SECTION("a flow-time step bound in log time") {
    c["stepper"] = {{"type", "bdf"}, {"time", "log"}, {"max_step", 0.1}};
    require_bad(c, "stepper.max_step", {"not supported with \"time\": \"log\""});
  }
  SECTION("log time on a fixed-step stepper") {
    c["stepper"] = {{"type", "rk4"}, {"step", 0.01}, {"time", "log"}};
    require_bad(c, "stepper.time", {"unknown field 'time' in 'stepper'", "allowed: type, step"});
  }
}

TEST_CASE("config: bad time grids", "[config]") {
  json c = base_config();
  SECTION("decreasing explicit times") {
    c["times"] = {{"type", "list"}, {"t", {0.0, 1.0, 0.5}}};
    require_bad(c, "times.t[2]", {"strictly increasing", "t[2] = 0.5 after t[1] = 1"});
  }
  SECTION("negative explicit time") {
    c["times"] = {{"type", "list"}, {"t", {-1.0, 1.0}}};
    require_bad(c, "times.t[0]", {"nonnegative", "-1"});
  }
  SECTION("both times and iterations") {
    c["times"] = {{"type", "list"}, {"t", {1.0}}, {"iterations", {1.0}}};
    require_bad(c, "times.t", {"exactly one of 't'"});
  }
  SECTION("log grid with t_end below t_min") {
    c["times"] = {{"type", "log"}, {"t_min", 1.0}, {"t_end", 0.5}, {"points", 10}};
    require_bad(c, "times.t_end", {"t_end > t_min = 1", "got 0.5"});
  }
  SECTION("too few points") {
    c["times"] = {{"type", "linear"}, {"t_end", 1.0}, {"points", 1}};
    require_bad(c, "times.points", {"[2, ", "got 1"});
  }
  SECTION("iterations without a learning rate") {
    c["loss"].erase("learning_rate");
    require_bad(c, "loss.learning_rate", {"missing required field", "GD iterations"});
  }
  SECTION("the gd stepper without a learning rate") {
    c["loss"].erase("learning_rate");
    c["stepper"] = {{"type", "gd"}};
    require_bad(c, "loss.learning_rate", {"missing required field", "'gd' stepper"});
  }
}

TEST_CASE("config: .npy files are loaded and checked at parse time", "[config]") {
  TempDir tmp;
  json c = base_config();
  SECTION("non-square planted matrix") {
    write_npy(tmp.file("X.npy"), Matrix::Identity(6, 5));
    c["planted"] = {{"type", "file"}, {"path", "X.npy"}};
    require_bad(c, "planted.path", {"must be square", "6 x 5", "X.npy"}, tmp.path.string());
  }
  SECTION("planted matrix of the wrong size") {
    write_npy(tmp.file("X.npy"), Matrix::Identity(5, 5));
    c["planted"] = {{"type", "file"}, {"path", "X.npy"}};
    require_bad(c, "planted.path", {"expected a 6 x 6 matrix (dim = 6)", "got 5 x 5"}, tmp.path.string());
  }
  SECTION("non-symmetric planted matrix") {
    Matrix X = psd6() + 0.1 * Matrix::Identity(6, 6);  // definite, so only symmetry fails
    X(0, 1) += 1e-3;
    write_npy(tmp.file("X.npy"), X);
    c["planted"] = {{"type", "file"}, {"path", "X.npy"}};
    require_bad(c, "planted.path", {"not symmetric", "symmetry_tol = 1e-12"}, tmp.path.string());
    // ...which a stated tolerance accepts.
    c["planted"]["symmetry_tol"] = 1e-2;
    CHECK_NOTHROW(parse_config(c, tmp.path.string()));
  }
  SECTION("indefinite planted matrix") {
    Matrix X = psd6();
    X(5, 5) -= 0.5;
    write_npy(tmp.file("X.npy"), X);
    c["planted"] = {{"type", "file"}, {"path", "X.npy"}};
    require_bad(c, "planted.path", {"not positive semidefinite", "psd_tol"}, tmp.path.string());
  }
  SECTION("negative tolerance of the planted file") {
    write_npy(tmp.file("X.npy"), psd6());
    c["planted"] = {{"type", "file"}, {"path", "X.npy"}, {"psd_tol", -1e-9}};
    require_bad(c, "planted.psd_tol", {"nonnegative", "-1e-09"}, tmp.path.string());
  }
  SECTION("missing (unreadable) file") {
    c["planted"] = {{"type", "file"}, {"path", "nowhere.npy"}};
    require_bad(c, "planted.path", {"nowhere.npy", "cannot open"}, tmp.path.string());
  }
  SECTION("a directory where a file should be") {
    fs::create_directories(tmp.path / "dir.npy");
    c["init"] = {{"type", "file"}, {"path", "dir.npy"}};
    require_bad(c, "init.path", {"is a directory"}, tmp.path.string());
  }
  SECTION("a file that is not .npy") {
    std::ofstream(tmp.file("U0.npy")) << "1,2,3\n";
    c["init"] = {{"type", "file"}, {"path", "U0.npy"}};
    require_bad(c, "init.path", {"bad magic"}, tmp.path.string());
  }
  SECTION("wrong init shape") {
    write_npy(tmp.file("U0.npy"), Matrix::Ones(5, 3));
    c["init"] = {{"type", "file"}, {"path", "U0.npy"}};
    require_bad(c, "init.path", {"d x p matrix with d = 6", "got 5 x 3"}, tmp.path.string());
  }
  SECTION("NaN in the init file") {
    Matrix U = Matrix::Ones(6, 3);
    U(2, 1) = std::numeric_limits<double>::quiet_NaN();
    write_npy(tmp.file("U0.npy"), U);
    c["init"] = {{"type", "file"}, {"path", "U0.npy"}};
    require_bad(c, "init.path", {"U0.npy", "NaN at index (2, 1)"}, tmp.path.string());
  }
  SECTION("valid files: d from the planted file, relative paths, symmetrized") {
    Matrix X = psd6();
    X(0, 1) += 1e-14;  // within the default symmetry tolerance
    write_npy(tmp.file("X.npy"), X);
    const Matrix U0 = random_factor(6, 4, 4, 0.3, 9);
    write_npy(tmp.file("U0.npy"), U0);
    c.erase("dim");
    c["planted"] = {{"type", "file"}, {"path", "X.npy"}};
    c["init"] = {{"type", "file"}, {"path", "U0.npy"}};
    c["observe"]["singular_values"] = 4;
    const RunConfig rc = parse_config(c, tmp.path.string());
    CHECK(rc.dim == 6);
    CHECK(rc.init.width == 4);
    CHECK(rc.init.matrix == U0);
    CHECK(rc.planted.matrix == rc.planted.matrix.transpose());
    CHECK(fs::path(rc.planted.path).is_absolute());
    const RunResult r = run(rc);
    CHECK(r.trajectory.summary.ok());
    // The resolved config names the files absolutely: it parses from anywhere.
    const RunConfig again = parse_config(to_json(rc), "/");
    CHECK(again.planted.matrix == rc.planted.matrix);
  }
}

TEST_CASE("config: load_config reports unreadable and malformed files", "[config]") {
  TempDir tmp;
  const std::string missing = tmp.file("missing.json");
  try {
    load_config(missing);
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK(e.where() == missing);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("cannot open"));
  }
  const std::string broken = tmp.file("broken.json");
  std::ofstream(broken) << "{\"dim\": 6,,}";
  try {
    load_config(broken);
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK(e.where() == broken);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("not valid JSON"));
  }
}

TEST_CASE("config: seeds derive from the top-level seed, stream by stream", "[config]") {
  json c = base_config();
  const RunConfig rc = parse_config(c, ".");
  CHECK(rc.op.seed == Rng::derive_seed(11, seed_stream::sensing_operator));
  CHECK(rc.planted.seed == Rng::derive_seed(11, seed_stream::planted));
  CHECK(rc.init.seed == Rng::derive_seed(11, seed_stream::init));
  CHECK(rc.op.seed != rc.planted.seed);
  c["init"]["seed"] = 77;
  CHECK(parse_config(c, ".").init.seed == 77);
  CHECK(parse_config(c, ".").op.seed == rc.op.seed);
}

TEST_CASE("config: the resolved config round-trips and repeats the run bit for bit", "[config]") {
  const RunConfig rc = parse_config(base_config(), ".");
  const json resolved = to_json(rc);
  const RunConfig again = parse_config(resolved, ".");
  CHECK(to_json(again) == resolved);

  const RunResult a = run(rc);
  const RunResult b = run(rc);
  const RunResult c = run(again);
  REQUIRE(a.trajectory.summary.ok());
  REQUIRE(a.trajectory.rows.size() >= 10);
  CHECK(a.trajectory.rows == b.trajectory.rows);
  CHECK(a.trajectory.rows == c.trajectory.rows);
  CHECK(a.final_state == b.final_state);
  // A different seed is a different run.
  json other = base_config();
  other["seed"] = 12;
  CHECK(run(parse_config(other, ".")).trajectory.rows != a.trajectory.rows);
}

TEST_CASE("config: the gd stepper is the papers' GD update, iteration by iteration", "[config]") {
  // Paper 000 (3): U <- U - eta grad ||A(UU^T) - b||^2 = U - 4 eta A*(r) U.
  json c = base_config();
  c["stepper"] = {{"type", "gd"}};
  c["times"] = {{"type", "list"}, {"iterations", {10, 25, 50}}};
  const RunConfig rc = parse_config(c, ".");
  const RunResult r = run(rc);
  REQUIRE(r.trajectory.summary.ok());
  CHECK(r.trajectory.column("iteration") == std::vector<double>{0, 10, 25, 50});

  const Experiment e = build_experiment(rc);
  Matrix U = e.initial;
  const double eta = 1e-3;
  for (int k = 0; k < 50; ++k) {
    const Vector res = e.loss.residual(U);
    U -= 4 * eta * (e.problem.op->adjoint(res) * U);
  }
  CHECK((r.final_state - U).norm() <= 1e-12 * U.norm());
}

TEST_CASE("config: time grids resolve to increasing flow times from 0", "[config]") {
  json c = base_config();
  const double h = 8e-3;
  SECTION("GD iterations, log spacing: whole iterations, deduplicated") {
    const RunConfig rc = parse_config(c, ".");
    const auto& t = rc.times.times;
    // The flow lands on each time; its "iteration" column is the whole iteration.
    const auto iterations = run(rc).trajectory.column("iteration");
    REQUIRE(iterations.size() == t.size());
    CHECK(iterations == rc.times.time_iterations);
    CHECK(iterations.back() == 2000);
    CHECK(t.front() == 0.0);
    CHECK_THAT(t.back(), Catch::Matchers::WithinRel(2000 * h, 1e-15));
    for (std::size_t i = 1; i < t.size(); ++i) {
      CHECK(t[i] > t[i - 1]);
      const double k = t[i] / h;
      CHECK_THAT(k, Catch::Matchers::WithinAbs(std::round(k), 1e-9));
    }
  }
  SECTION("a list of times gets t = 0 prepended") {
    c["times"] = {{"type", "list"}, {"t", {0.5, 1.0}}};
    CHECK(parse_config(c, ".").times.times == std::vector<double>{0.0, 0.5, 1.0});
  }
  SECTION("a log grid starts at 0") {
    c["times"] = {{"type", "log"}, {"t_min", 1e-3}, {"t_end", 1.0}, {"points", 4}};
    const auto t = parse_config(c, ".").times.times;
    REQUIRE(t.size() == 5);
    CHECK(t[0] == 0.0);
    CHECK_THAT(t[2], Catch::Matchers::WithinRel(1e-2, 1e-12));
  }
}

TEST_CASE("config: stop rules end the run with their status and keep the record", "[config]") {
  json c = base_config();
  SECTION("training error target") {
    c["stop"] = {{"training_error", {{"below", 1e-6}, {"relative", true}}}};
    const RunResult r = run(parse_config(c, "."));
    CHECK(r.trajectory.summary.termination == Termination::target_reached);
    const Experiment e = build_experiment(parse_config(c, "."));
    CHECK(e.loss.training_error(r.final_state) < 1e-6 * e.problem.b.squaredNorm());
  }
  SECTION("step budget") {
    c["stop"] = {{"max_steps", 7}};
    const RunResult r = run(parse_config(c, "."));
    CHECK(r.trajectory.summary.termination == Termination::budget_exhausted);
    CHECK(r.trajectory.summary.last.steps == 7);
    CHECK(r.trajectory.final_value("steps") == 7);
  }
  SECTION("divergence: GD with a step far beyond stability") {
    c["loss"]["learning_rate"] = 1.0;
    c["init"]["norm"] = 10.0;
    c["stepper"] = {{"type", "gd"}};
    c["times"] = {{"type", "list"}, {"iterations", {100}}};
    c["stop"] = {{"max_state_norm", 1e6}};
    const RunResult r = run(parse_config(c, "."));
    CHECK(r.trajectory.summary.termination == Termination::diverged);
    CHECK(r.trajectory.rows.size() == 2);  // the start and where it stopped
    CHECK(r.final_state.allFinite());
  }
  SECTION("interruption") {
    std::atomic<bool> cancel{true};
    RunHooks hooks;
    hooks.cancel = &cancel;
    const RunResult r = run(parse_config(c, "."), hooks);
    CHECK(r.trajectory.summary.termination == Termination::interrupted);
    CHECK(r.trajectory.summary.last.steps == 1);
    CHECK(r.trajectory.rows.size() == 2);
  }
}

TEST_CASE("config: run outputs are the trajectory, snapshots and a manifest that repeats the run",
          "[config]") {
  TempDir tmp;
  json c = base_config();
  c["observe"]["snapshots"] = "gram";
  c["observe"]["snapshot_every"] = 5;
  const RunConfig rc = parse_config(c, ".");
  const RunResult r = run(rc);
  const std::string dir = tmp.file("out");
  const json manifest = write_run_outputs(dir, rc, r);

  std::ifstream csv(dir + "/trajectory.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "t,iteration,step_size,steps,rejected,rhs_evaluations,training_error,test_error,rank,sigma_1,"
                  "sigma_2,sigma_3");
  const std::size_t rows = r.trajectory.rows.size();
  CHECK(manifest["trajectory"]["rows"] == rows);
  CHECK(manifest["status"] == "ok");
  CHECK(manifest["summary"]["termination"] == "completed");

  // Rows 0, 5, 10, ... and the last one, as X = UU^T, bit for bit.
  const auto& files = manifest["snapshots"]["files"];
  REQUIRE(files.size() == (rows - 1) / 5 + 1 + ((rows - 1) % 5 != 0 ? 1 : 0));
  for (const auto& f : files) {
    const auto k = f["row"].get<std::size_t>();
    CHECK(f["file"] == "snapshots/" + snapshot_file_name(SnapshotKind::gram, k, rows));
    CHECK(f["t"] == r.trajectory.snapshots[k].t);
    CHECK(read_npy_matrix(dir + "/" + f["file"].get<std::string>()) == r.trajectory.snapshots[k].value);
  }
  CHECK(read_npy_matrix(dir + "/" + files.back()["file"].get<std::string>()) ==
        r.final_state * r.final_state.transpose());

  // The manifest's config repeats the run.
  std::ifstream in(dir + "/manifest.json");
  const json written = json::parse(in);
  CHECK(run(parse_config(written["config"], ".")).trajectory.rows == r.trajectory.rows);
}
