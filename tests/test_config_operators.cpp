// Every sensing operator and the noise from a run config (issue 6): each
// round-trips through its resolved JSON, a configured run gives the same
// numbers as the same run written with the library, and bad inputs are
// InputErrors naming the field, the value and what is allowed.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/run.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/matrix_operator.hpp"
#include "flowsense/problem/noise.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/rank_one_operator.hpp"

#include "config_testing.hpp"

using namespace flowsense;
using nlohmann::json;
namespace fs = std::filesystem;
using flowsense::testing::require_bad;
using flowsense::testing::TempDir;

namespace {

/// d = 5, a rank-2 planted matrix, a rank-2 start of width 2, paper 003's
/// loss, dopri5 to t = 5; the operator is filled in by each test.
json base_config(const json& op) {
  json c = json::parse(R"({
    "seed": 21,
    "dim": 5,
    "planted": {"type": "trace_one", "rank": 2},
    "loss": {"convention": "paper003"},
    "init": {"type": "random", "rank": 2, "width": 2, "norm": 0.5},
    "stepper": {"type": "dopri5", "rtol": 1e-9, "atol": 1e-12},
    "times": {"type": "log", "t_min": 0.01, "t_end": 5, "points": 8}
  })");
  c["operator"] = op;
  return c;
}

/// The run of `config` written with the library: the operator `op`, the
/// planted matrix, the noise, the loss, U0 and the integrator by hand.
/// Rank-one projections and entry sampling take the data from the planted
/// factor F = W/||W||_F (apply_gram, O(m d r)); the others from X = F F^T.
Matrix library_run(const RunConfig& rc, std::shared_ptr<const SensingOperator> op) {
  const Matrix X = planted_trace_one(rc.dim, rc.planted.rank, rc.planted.seed);
  Problem problem;
  if (op->name() == "rank_one" || op->name() == "entry_sampling") {
    Matrix F = Rng(rc.planted.seed).normal_matrix(rc.dim, rc.planted.rank);
    F /= F.norm();
    CHECK((F * F.transpose() - X).norm() < 1e-15 * X.norm());  // the same X
    problem = Problem::noiseless_from_factor(op, F);
    CHECK((problem.b - (*op)(X)).norm() < 1e-14 * problem.b.norm());  // the same data, up to rounding
  } else {
    problem = Problem::noiseless(std::move(op), X);
  }
  if (rc.noise.sigma > 0) add_noise(problem, rc.noise.sigma, rc.noise.seed);
  FactorFlow flow(SensingLoss(problem, loss_constant::paper003));
  Matrix U = random_factor(rc.dim, rc.init.width, rc.init.rank, rc.init.norm, rc.init.seed);
  IntegrateOptions options;
  options.stepper = StepperKind::dopri5;
  options.rtol = 1e-9;
  options.atol = 1e-12;
  options.step = 1e-3;  // the config's default first step without a learning rate
  REQUIRE(integrate(flow, U, log_times(0.01, 5.0, 8), options, Watch{}).ok());
  return U;
}

/// parse -> to_json -> parse gives the same JSON, and a run of the config
/// ends where the library run with `op` ends, bit for bit.
void check_round_trip_and_run(const json& config, const std::shared_ptr<const SensingOperator>& op,
                              const std::string& base_dir = ".") {
  const RunConfig rc = parse_config(config, base_dir);
  const json resolved = to_json(rc);
  INFO("resolved: " << resolved.dump());
  CHECK(to_json(parse_config(resolved, "/")) == resolved);
  const RunResult result = run(rc);
  REQUIRE(result.trajectory.summary.ok());
  CHECK(result.measurements == op->measurements());
  CHECK(result.operator_name == op->name());
  CHECK(result.final_state == library_run(rc, op));
}

}  // namespace

TEST_CASE("config operators: rank_one round-trips and runs as the library does", "[config_ops]") {
  const json c = base_config({{"type", "rank_one"}, {"measurements", 40}, {"scale", "inv_sqrt_m"}});
  const RunConfig rc = parse_config(c, ".");
  CHECK(rc.op.seed == Rng::derive_seed(21, seed_stream::sensing_operator));
  check_round_trip_and_run(c, std::make_shared<RankOneOperator>(5, 40, GaussianScale::inv_sqrt_m, rc.op.seed));
  const RunResult r = run(rc);
  CHECK(r.operator_bytes == 8.0 * 40 * 5);  // the a_i
  CHECK(r.peak_memory_bytes > 0);
}

TEST_CASE("config operators: entry_sampling from a probability, a count, a list and a .npy", "[config_ops]") {
  TempDir tmp;
  SECTION("probability") {
    const json c = base_config({{"type", "entry_sampling"}, {"probability", 0.7}, {"seed", 5}});
    check_round_trip_and_run(
        c, std::make_shared<EntrySamplingOperator>(EntrySamplingOperator::random(5, 0.7, 5, EntryScale::unbiased)));
  }
  SECTION("count, unit scale, derived seed") {
    const json c = base_config({{"type", "entry_sampling"}, {"count", 11}, {"scale", "unit"}});
    const RunConfig rc = parse_config(c, ".");
    CHECK(rc.op.measurements == 11);
    check_round_trip_and_run(c, std::make_shared<EntrySamplingOperator>(EntrySamplingOperator::random_count(
                                    5, 11, Rng::derive_seed(21, seed_stream::sensing_operator), EntryScale::unit)));
  }
  SECTION("a list of pairs") {
    const std::vector<Entry> mask = {{0, 0}, {0, 3}, {1, 2}, {1, 1}, {2, 4}, {3, 3}, {4, 4}, {0, 1}, {2, 2}};
    json pairs = json::array();
    for (const Entry& e : mask) pairs.push_back({e.i, e.j});
    const json c = base_config({{"type", "entry_sampling"}, {"mask", pairs}});
    check_round_trip_and_run(c, std::make_shared<EntrySamplingOperator>(5, mask));
  }
  SECTION("a .npy mask (symmetric 0/1 matrix), relative to the config's folder") {
    Matrix M = Matrix::Zero(5, 5);
    for (auto [i, j] : std::vector<std::pair<int, int>>{{0, 0}, {1, 3}, {2, 2}, {0, 4}, {3, 3}, {1, 1}, {4, 4}})
      M(i, j) = M(j, i) = 1;
    write_npy(tmp.file("mask.npy"), M);
    const json c = base_config({{"type", "entry_sampling"}, {"mask_file", "mask.npy"}});
    const RunConfig rc = parse_config(c, tmp.path.string());
    CHECK(rc.op.path == fs::absolute(tmp.path / "mask.npy").lexically_normal().string());
    check_round_trip_and_run(c, std::make_shared<EntrySamplingOperator>(5, read_mask_npy(tmp.file("mask.npy"), 5)),
                             tmp.path.string());
  }
}

TEST_CASE("config operators: entry_sampling random_count draws exactly count distinct entries", "[config_ops]") {
  // Each of the D = 15 coordinates must be drawn with probability count/D:
  // over 3000 seeds the frequency of each is within 5 standard errors.
  const Index d = 5, D = packed_size(d), count = 6, trials = 3000;
  std::vector<double> hits(static_cast<std::size_t>(D), 0.0);
  for (Index t = 0; t < trials; ++t) {
    const auto op = EntrySamplingOperator::random_count(d, count, static_cast<std::uint64_t>(t + 1));
    REQUIRE(op.measurements() == count);
    CHECK(op.probability() == double(count) / double(D));
    for (const Entry& e : op.mask()) hits[static_cast<std::size_t>(e.i * d - e.i * (e.i - 1) / 2 + (e.j - e.i))] += 1;  // packed order
  }
  const double q = double(count) / double(D), se = std::sqrt(q * (1 - q) / trials);
  for (Index k = 0; k < D; ++k) {
    INFO("coordinate " << k);
    CHECK(std::abs(hits[static_cast<std::size_t>(k)] / trials - q) < 5 * se);
  }
  CHECK_THROWS_AS(EntrySamplingOperator::random_count(d, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(EntrySamplingOperator::random_count(d, D + 1, 1), std::invalid_argument);
  CHECK(EntrySamplingOperator::random_count(d, D, 1).measurements() == D);
}

TEST_CASE("config operators: matrices from a .npy round-trip and run as the library does", "[config_ops]") {
  TempDir tmp;
  const Index m = 30, d = 5;
  NpyArray A;
  A.shape = {m, d, d};
  Rng rng(3);
  for (Index k = 0; k < m; ++k) {
    const Matrix G = rng.normal_matrix(d, d);
    const Matrix S = G + G.transpose();
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < d; ++j) A.data.push_back(S(i, j));
  }
  write_npy(tmp.file("A.npy"), A.shape, A.data);
  const json c = base_config({{"type", "matrices"}, {"path", "A.npy"}, {"scale", "inv_sqrt_m"}});
  check_round_trip_and_run(
      c, std::make_shared<MatrixOperator>(MatrixOperator::from_npy(tmp.file("A.npy"), GaussianScale::inv_sqrt_m)),
      tmp.path.string());
  CHECK(run(parse_config(c, tmp.path.string())).operator_bytes == 8.0 * m * packed_size(d));
}

TEST_CASE("config operators: full observation and noise", "[config_ops]") {
  json c = base_config({{"type", "full"}});
  c["noise"] = {{"sigma", 0.01}};
  const RunConfig rc = parse_config(c, ".");
  CHECK(rc.noise.sigma == 0.01);
  CHECK(rc.noise.seed == Rng::derive_seed(21, seed_stream::noise));
  check_round_trip_and_run(c, std::make_shared<FullObservation>(5));
  // The data carry the noise of the stated level and seed, and only that.
  const Experiment e = build_experiment(rc);
  const Problem clean = Problem::noiseless(std::make_shared<FullObservation>(5), e.problem.planted);
  CHECK(e.problem.b == clean.b + 0.01 * gaussian_noise(clean.measurements(), rc.noise.seed));
  CHECK(run(rc).noise_energy == noise_energy(e.problem));
  // Without a "noise" section: noiseless, and the resolved config says so.
  c.erase("noise");
  const RunConfig quiet = parse_config(c, ".");
  CHECK(quiet.noise.sigma == 0.0);
  CHECK(to_json(quiet)["noise"]["sigma"] == 0.0);
  CHECK(build_experiment(quiet).problem.b == clean.b);
  // An explicit seed is kept.
  c["noise"] = {{"sigma", 0.5}, {"seed", 99}};
  CHECK(parse_config(c, ".").noise.seed == 99);
}

TEST_CASE("config operators: bad operator sections name the field, the value and what is allowed",
          "[config_ops]") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  SECTION("unknown type lists every type") {
    require_bad(base_config({{"type", "rank1"}, {"measurements", 4}}), "operator.type",
                {"unknown operator type 'rank1'", "allowed: gaussian, rank_one, entry_sampling, matrices, full"});
  }
  SECTION("rank_one: missing, negative, non-integer measurements; unknown field; bad scale") {
    require_bad(base_config({{"type", "rank_one"}}), "operator.measurements", {"missing required field"});
    require_bad(base_config({{"type", "rank_one"}, {"measurements", -3}}), "operator.measurements",
                {"positive number of measurements", "got -3"});
    require_bad(base_config({{"type", "rank_one"}, {"measurements", 2.5}}), "operator.measurements",
                {"expected an integer", "2.5"});
    require_bad(base_config({{"type", "rank_one"}, {"measurements", 4}, {"probability", 0.5}}),
                "operator.probability", {"unknown field 'probability'", "measurements, scale, seed"});
    require_bad(base_config({{"type", "rank_one"}, {"measurements", 4}, {"scale", "sqrt"}}), "operator.scale",
                {"unknown scale 'sqrt'", "unit, inv_sqrt_m"});
    json big = base_config({{"type", "rank_one"}, {"measurements", 2000000000}});
    require_bad(big, "operator.measurements", {"rank-one projections", "GiB", "limit is 16 GiB"});
  }
  SECTION("entry_sampling: mask sources") {
    require_bad(base_config({{"type", "entry_sampling"}}), "operator.probability",
                {"give exactly one of probability", "got none"});
    require_bad(base_config({{"type", "entry_sampling"}, {"probability", 0.5}, {"count", 3}}), "operator.count",
                {"exactly one of", "got probability, count"});
    require_bad(base_config({{"type", "entry_sampling"}, {"probability", 0}}), "operator.probability",
                {"probability q in (0, 1]", "got 0"});
    require_bad(base_config({{"type", "entry_sampling"}, {"probability", 1.5}}), "operator.probability",
                {"got 1.5"});
    require_bad(base_config({{"type", "entry_sampling"}, {"count", 16}}), "operator.count",
                {"[1, d(d+1)/2 = 15]", "got 16"});
    require_bad(base_config({{"type", "entry_sampling"}, {"count", 3}, {"scale", "half"}}), "operator.scale",
                {"unknown scale 'half'", "unbiased, unit"});
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", {{0, 1}}}, {"seed", 3}}), "operator.seed",
                {"only applies to random masks"});
  }
  SECTION("entry_sampling: bad mask entries") {
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", json::array()}}), "operator.mask",
                {"non-empty list of [i, j] pairs"});
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", {{0, 1}, {1, "x"}}}}), "operator.mask[1]",
                {"pair [i, j] of integers", "[1,\"x\"]"});
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", {{0, 1}, {-1, 2}}}}), "operator.mask[1]",
                {"0 <= i <= j < d"});
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", {{0, 1}, {2, 1}}}}), "operator.mask",
                {"entry 1 = (2, 1) has i > j"});
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", {{0, 1}, {1, 5}}}}), "operator.mask",
                {"entry 1 = (1, 5)", "out of range"});
    require_bad(base_config({{"type", "entry_sampling"}, {"mask", {{0, 1}, {2, 3}, {0, 1}}}}), "operator.mask",
                {"entry 2 = (0, 1) repeats an earlier entry"});
  }
  SECTION("entry_sampling: bad mask files") {
    require_bad(base_config({{"type", "entry_sampling"}, {"mask_file", "absent.npy"}}), "operator.mask_file",
                {"absent.npy", "cannot open"}, dir);
    Matrix M = Matrix::Identity(5, 5);
    M(1, 2) = 1;  // but M(2, 1) = 0
    write_npy(tmp.file("asym.npy"), M);
    require_bad(base_config({{"type", "entry_sampling"}, {"mask_file", "asym.npy"}}), "operator.mask_file",
                {"asym.npy", "not symmetric", "[1, 2] = 1 but [2, 1] = 0"}, dir);
    write_npy(tmp.file("small.npy"), Matrix::Identity(4, 4));
    require_bad(base_config({{"type", "entry_sampling"}, {"mask_file", "small.npy"}}), "operator.mask_file",
                {"small.npy"}, dir);
  }
  SECTION("matrices: missing file, wrong shape, wrong d, asymmetric, non-finite, bad tolerance") {
    require_bad(base_config({{"type", "matrices"}, {"path", "absent.npy"}}), "operator.path",
                {"absent.npy", "cannot open"}, dir);
    write_npy(tmp.file("flat.npy"), Matrix::Identity(5, 5));
    require_bad(base_config({{"type", "matrices"}, {"path", "flat.npy"}}), "operator.path",
                {"flat.npy", "3-D array of shape (m, d, d)", "got 2-D shape (5, 5)", "(1, d, d)"}, dir);
    NpyArray A;
    A.shape = {2, 4, 4};
    A.data.assign(32, 1.0);
    write_npy(tmp.file("d4.npy"), A.shape, A.data);
    require_bad(base_config({{"type", "matrices"}, {"path", "d4.npy"}}), "operator.path",
                {"side d = 5 (dim)", "got shape (2, 4, 4)"}, dir);
    A.shape = {3, 5, 5};
    A.data.assign(75, 1.0);
    A.data[25 + 5 * 0 + 3] = 1.001;  // A[1, 0, 3] != A[1, 3, 0]
    write_npy(tmp.file("asym.npy"), A.shape, A.data);
    require_bad(base_config({{"type", "matrices"}, {"path", "asym.npy"}}), "operator.path",
                {"matrix 1 is not symmetric", "A[1, 0, 3] = 1.001 but A[1, 3, 0] = 1", "1e-12 * max|A[1]|"}, dir);
    // A stated tolerance accepts it (and is kept in the resolved config).
    json tolerant = base_config({{"type", "matrices"}, {"path", "asym.npy"}, {"symmetry_tol", 1e-2}});
    CHECK(to_json(parse_config(tolerant, dir))["operator"]["symmetry_tol"] == 1e-2);
    require_bad(base_config({{"type", "matrices"}, {"path", "asym.npy"}, {"symmetry_tol", -1}}),
                "operator.symmetry_tol", {"got -1"}, dir);
    A.data.assign(75, 1.0);
    A.data[50 + 5 * 2 + 4] = std::numeric_limits<double>::quiet_NaN();
    write_npy(tmp.file("nan.npy"), A.shape, A.data);
    require_bad(base_config({{"type", "matrices"}, {"path", "nan.npy"}}), "operator.path",
                {"A[2, 2, 4] = nan", "finite"}, dir);
  }
  SECTION("noise") {
    json c = base_config({{"type", "full"}});
    c["noise"] = {{"sigma", -0.1}};
    require_bad(c, "noise.sigma", {"sigma >= 0", "got -0.1"});
    c["noise"] = {{"sigma", "big"}};
    require_bad(c, "noise.sigma", {"expected a number"});
    c["noise"] = json::object();
    require_bad(c, "noise.sigma", {"missing required field"});
    c["noise"] = {{"sigma", 0.1}, {"level", 2}};
    require_bad(c, "noise.level", {"unknown field 'level'", "sigma, seed"});
  }
}
