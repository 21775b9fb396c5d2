// The flow a config integrates ("flow": factor | gram, the exact reduced flow
// chosen automatically for rank-deficient starts, gram_gap): round trips,
// agreement between the flows against each other (the reduced flow is exact,
// X = UU^T along the X flow (30)), and errors naming the field.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/run.hpp"

#include "config_testing.hpp"

using namespace flowsense;
using nlohmann::json;
using flowsense::testing::require_bad;

namespace {

/// d = 6, m = 30, rank-2 planted, a rank-2 start of width 6 (so "auto" reduces).
json flow_config() {
  return json::parse(R"({
    "seed": 11,
    "dim": 6,
    "operator": {"type": "gaussian", "measurements": 30, "scale": "unit"},
    "planted": {"type": "trace_one", "rank": 2},
    "loss": {"convention": "paper000"},
    "init": {"type": "random", "rank": 2, "width": 6, "norm": 0.5},
    "stepper": {"type": "dopri5", "rtol": 1e-10, "atol": 1e-14},
    "times": {"type": "log", "t_min": 0.01, "t_end": 20, "points": 15},
    "observe": {"singular_values": 3, "snapshots": "gram"}
  })");
}

/// max_k ||S_k - T_k||_F / max_k ||T_k||_F over the snapshots of two runs at the same times.
double snapshot_gap(const RunResult& a, const RunResult& b) {
  REQUIRE(a.trajectory.snapshots.size() == b.trajectory.snapshots.size());
  double gap = 0, size = 0;
  for (std::size_t k = 0; k < a.trajectory.snapshots.size(); ++k) {
    REQUIRE(a.trajectory.snapshots[k].t == b.trajectory.snapshots[k].t);
    gap = std::max(gap, (a.trajectory.snapshots[k].value - b.trajectory.snapshots[k].value).norm());
    size = std::max(size, b.trajectory.snapshots[k].value.norm());
  }
  return gap / size;
}

}  // namespace

TEST_CASE("config flows: every flow form round-trips through the resolved config", "[config][flow]") {
  for (const json& flow : {json("factor"), json("gram"), json{{"type", "factor"}, {"reduced", "off"}},
                           json{{"type", "factor"}, {"reduced_rank_tol", 1e-9}, {"gram_gap", true}},
                           json{{"type", "gram"}, {"gram_gap", true}}}) {
    INFO(flow.dump());
    json c = flow_config();
    c["flow"] = flow;
    const RunConfig rc = parse_config(c, ".");
    const json resolved = to_json(rc);
    CHECK(to_json(parse_config(resolved, ".")) == resolved);
    const std::string type = flow.is_string() ? flow.get<std::string>() : flow["type"].get<std::string>();
    CHECK(resolved["flow"]["type"] == type);
  }
  // The default is the factor flow with the automatic reduction.
  const json resolved = to_json(parse_config(flow_config(), "."));
  CHECK(resolved["flow"] == json{{"type", "factor"}, {"reduced", "auto"}, {"reduced_rank_tol", 1e-12},
                                 {"gram_gap", false}});
}

TEST_CASE("config flows: the reduced flow is chosen for rank(U0) < p and agrees with the full flow",
          "[config][flow]") {
  json c = flow_config();
  const RunResult reduced = run(parse_config(c, "."));
  CHECK(reduced.flow["integrated"] == "reduced");
  CHECK(reduced.flow["state"] == "6 x 2");
  CHECK(reduced.flow["rank_U0"] == 2);
  CHECK(reduced.final_state.cols() == 6);  // U = L R^T is reported, not L

  c["flow"] = {{"type", "factor"}, {"reduced", "off"}};
  const RunResult full = run(parse_config(c, "."));
  CHECK(full.flow["integrated"] == "factor");
  CHECK_THAT(full.flow["reason"].get<std::string>(), Catch::Matchers::Contains("reduced = off"));
  REQUIRE(reduced.trajectory.summary.ok());
  REQUIRE(full.trajectory.summary.ok());
  // Two dopri5 runs at rtol 1e-10 whose step controls see different states (L or U): each
  // is within ~1e-8 of the exact X(t) over this horizon, so they agree to 1e-6.
  CHECK(snapshot_gap(reduced, full) < 1e-6);
  CHECK(reduced.trajectory.columns == full.trajectory.columns);

  // With a fixed-step stepper every stage is M U, so the two agree to rounding.
  c["stepper"] = {{"type", "rk4"}, {"step", 0.01}};
  const RunResult full_rk4 = run(parse_config(c, "."));
  c["flow"] = "factor";
  const RunResult reduced_rk4 = run(parse_config(c, "."));
  CHECK(reduced_rk4.flow["integrated"] == "reduced");
  CHECK(snapshot_gap(reduced_rk4, full_rk4) < 1e-12);
  CHECK((reduced_rk4.final_state - full_rk4.final_state).norm() < 1e-12 * full_rk4.final_state.norm());

  // A full-rank start has nothing to reduce.
  c["init"]["rank"] = 6;
  const RunResult full_rank = run(parse_config(c, "."));
  CHECK(full_rank.flow["integrated"] == "factor");
  CHECK_THAT(full_rank.flow["reason"].get<std::string>(), Catch::Matchers::Contains("nothing to reduce"));
}

TEST_CASE("config flows: the X flow (30) from U0 U0^T follows U(t) U(t)^T of the factor flow", "[config][flow]") {
  json c = flow_config();
  // For a Gram state "rank" counts sqrt(lambda_i(X)) > rank_tol sqrt(lambda_1). A
  // Runge-Kutta step of the X flow does not keep X = Phi X0 Phi^T exactly (the factor
  // flow's stages keep U = Phi U0), so the would-be-zero eigenvalues sit at the local
  // error, ~0.3 rtol lambda_1 (measured for rtol 1e-6 .. 1e-12; docs/config.md), i.e.
  // ~5e-6 on the sqrt scale at rtol 1e-10: the tolerance must sit above that.
  c["observe"]["rank_tol"] = 1e-4;
  const RunResult factor = run(parse_config(c, "."));
  c["flow"] = {{"type", "gram"}, {"gram_gap", true}};
  const RunResult gram = run(parse_config(c, "."));
  REQUIRE(gram.trajectory.summary.ok());
  CHECK(gram.flow["integrated"] == "gram");
  CHECK(gram.final_state.rows() == 6);
  CHECK(gram.final_state.cols() == 6);
  // Snapshots are X(t) for the gram run and U(t)U(t)^T for the factor run.
  CHECK(snapshot_gap(gram, factor) < 1e-6);
  // The same observers work on the X flow: training error, rank and spectrum agree.
  const auto te_g = gram.trajectory.column("training_error"), te_f = factor.trajectory.column("training_error");
  for (std::size_t k = 0; k < te_g.size(); ++k) CHECK(std::abs(te_g[k] - te_f[k]) <= 1e-6 * te_f.front());
  CHECK(gram.trajectory.column("rank") == factor.trajectory.column("rank"));

  // gram_gap = ||X(t) - U(t)U(t)^T||_F from the companion factor run, recorded at every row.
  const auto gap = gram.trajectory.column("gram_gap");
  REQUIRE(gap.size() == gram.trajectory.rows.size());
  CHECK(gap.front() < 1e-14);  // both start from U0 U0^T
  for (double g : gap) CHECK(g < 1e-6 * gram.final_state.norm());
  CHECK(gram.flow["gram_gap_reference"]["flow"]["integrated"] == "reduced");

  // And from a factor run: the companion is the X flow.
  c["flow"] = {{"type", "factor"}, {"gram_gap", true}};
  const RunResult with_gap = run(parse_config(c, "."));
  CHECK(with_gap.flow["gram_gap_reference"]["flow"]["integrated"] == "gram");
  const auto gap2 = with_gap.trajectory.column("gram_gap");
  for (std::size_t k = 0; k < gap2.size(); ++k) CHECK(std::abs(gap2[k] - gap[k]) < 1e-6 * gram.final_state.norm());
}

TEST_CASE("config flows: bad flow choices name the field, the value and what is allowed", "[config][flow]") {
  json c = flow_config();
  SECTION("unknown flow") {
    c["flow"] = "graam";
    require_bad(c, "flow", {"unknown flow 'graam'", "factor, gram"});
  }
  SECTION("unknown flow type in the object form") {
    c["flow"] = {{"type", "x"}};
    require_bad(c, "flow.type", {"unknown flow 'x'", "factor, gram"});
  }
  SECTION("unknown reduced choice") {
    c["flow"] = {{"reduced", "maybe"}};
    require_bad(c, "flow.reduced", {"'maybe'", "auto, off"});
  }
  SECTION("reduced_rank_tol out of range") {
    c["flow"] = {{"reduced_rank_tol", 1.0}};
    require_bad(c, "flow.reduced_rank_tol", {"[0, 1)", "got 1"});
  }
  SECTION("the X flow has nothing to reduce") {
    c["flow"] = {{"type", "gram"}, {"reduced", "off"}};
    require_bad(c, "flow.reduced", {"factor flow", "type, gram_gap"});
  }
  SECTION("unknown field") {
    c["flow"] = {{"type", "factor"}, {"gramgap", true}};
    require_bad(c, "flow.gramgap", {"unknown field", "gram_gap"});
  }
  SECTION("gram_gap is a boolean") {
    c["flow"] = {{"gram_gap", "yes"}};
    require_bad(c, "flow.gram_gap", {"yes"});
  }
  SECTION("factor snapshots of the X flow") {
    c["flow"] = "gram";
    c["observe"]["snapshots"] = "factor";
    require_bad(c, "observe.snapshots", {"no factor", "gram"});
  }
  SECTION("GD on the X flow") {
    c["flow"] = "gram";
    c["loss"]["learning_rate"] = 1e-3;
    c["stepper"] = {{"type", "gd"}};
    require_bad(c, "stepper.type", {"gd", "euler"});
  }
}
