// The theory observers from a config's "observe" section: each one's columns
// appear, agree with an independent computation on the recorded snapshots
// (identities, closed forms under full observation), round-trip through the
// resolved config, and bad options name the field.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/core/error.hpp"
#include "flowsense/experiment/config.hpp"
#include "flowsense/experiment/run.hpp"

#include "config_testing.hpp"

using namespace flowsense;
using nlohmann::json;
using flowsense::testing::require_bad;

namespace {

/// d = 5, a rank-2 truth with eigenvalues 1 and 0.4, a rank-3 start of width 3.
json observer_config(const std::string& op) {
  json c = json::parse(R"({
    "seed": 5,
    "dim": 5,
    "planted": {"type": "orthogonal", "eigenvalues": [1.0, 0.4]},
    "loss": {"convention": "paper003"},
    "init": {"type": "random", "rank": 3, "width": 3, "norm": 0.3},
    "stepper": {"type": "dopri5", "rtol": 1e-11, "atol": 1e-14},
    "times": {"type": "linear", "t_end": 8, "points": 41},
    "observe": {"singular_values": 3, "snapshots": "gram",
                "manifold_distance": {"xi": 2.0}, "licq": true, "best_rank": true, "relative_error": true,
                "gram_spectrum": true, "energy_identity": true, "singular_value_law": {"k": 3}}
  })");
  c["operator"] = op == "full" ? json{{"type", "full"}}
                               : json{{"type", "gaussian"}, {"measurements", 12}, {"scale", "inv_sqrt_m"}};
  return c;
}

}  // namespace

TEST_CASE("config observers: every theory observer from the config, checked against the snapshots",
          "[config][observers]") {
  const json c = observer_config("full");
  const RunConfig rc = parse_config(c, ".");
  const json resolved = to_json(rc);
  CHECK(to_json(parse_config(resolved, ".")) == resolved);
  // Defaults resolved from the problem: Z*_s and E_s up to rank(X♮) = 2, the spectrum of all d = 5.
  CHECK(resolved["observe"]["best_rank"]["s_max"] == 2);
  CHECK(resolved["observe"]["relative_error"]["k"] == 2);
  CHECK(resolved["observe"]["gram_spectrum"]["count"] == 5);

  const RunResult r = run(rc);
  REQUIRE(r.trajectory.summary.ok());
  const Trajectory& tr = r.trajectory;
  for (const char* col : {"dist_Mb_lower", "dist_Mb_upper", "sigma_m_Dg", "procrustes_s1", "zstar_gap_s2", "E_1",
                          "E_2", "x_eig_1", "x_eig_5", "G", "energy_residual", "sv_rate_3", "sv_law_residual_1"})
    CHECK(tr.has_column(col));
  CHECK(r.observers["best_rank"].size() == 2);
  CHECK(r.observers["manifold_distance"]["op_norm"].get<double>() == Approx(1.0).epsilon(1e-10));

  const Matrix& truth = build_experiment(rc).problem.planted;
  const auto s1 = tr.column("sigma_1"), x1 = tr.column("x_eig_1"), x4 = tr.column("x_eig_4");
  const auto lower = tr.column("dist_Mb_lower"), upper = tr.column("dist_Mb_upper");
  const auto e1 = tr.column("E_1"), gap2 = tr.column("zstar_gap_s2");
  for (std::size_t k = 0; k < tr.rows.size(); ++k) {
    const Matrix& X = tr.snapshots[k].value;
    // x_eig_i = sigma_i(U)^2; a width-3 factor has x_eig_4 = x_eig_5 = 0.
    CHECK_THAT(x1[k], Catch::Matchers::WithinRel(s1[k] * s1[k], 1e-12));
    CHECK(x4[k] == 0.0);
    CHECK(lower[k] <= upper[k] * (1 + 1e-9));
    // Full observation: Z*_s is the truncated eigendecomposition of the truth, and
    // E_s = ||X - X_s X_s^T||^2 / ||X_s X_s^T||^2 with the same top-s part.
    const Matrix Z1 = truncated_psd(truth, 1), Z2 = truncated_psd(truth, 2);
    CHECK_THAT(e1[k], Catch::Matchers::WithinRel((X - Z1).squaredNorm() / Z1.squaredNorm(), 1e-9));
    CHECK_THAT(gap2[k], Catch::Matchers::WithinAbs((X - Z2).norm(), 1e-8));
  }
  // The energy identity holds to quadrature + integration error (O(h^5) with h = 0.2):
  // far below the energy the flow dissipates.
  const auto drop = tr.column("energy_drop"), resid = tr.column("energy_residual");
  double total_drop = 0, worst = 0;
  for (std::size_t k = 1; k < drop.size(); ++k) {
    total_drop += drop[k];
    worst = std::max(worst, std::abs(resid[k]));
  }
  CHECK(total_drop > 0);
  CHECK(worst < 1e-4 * total_drop);
  // The singular-value law (36): log s_i changes as the integrated rate. The residual is
  // the trapezoid rule's error, O(h^3) per interval: a 4 times finer grid must shrink it
  // by about 64 (at least 16 is required), and it vanishes with h only if (36) holds.
  auto worst_law = [](const Trajectory& t) {
    double w = 0;
    for (int i = 1; i <= 3; ++i)
      for (double x : t.column("sv_law_residual_" + std::to_string(i)))
        if (std::isfinite(x)) w = std::max(w, std::abs(x));
    return w;
  };
  json fine = c;
  fine["times"]["points"] = 161;
  fine["observe"] = {{"singular_value_law", {{"k", 3}}}};
  const double coarse_law = worst_law(tr), fine_law = worst_law(run(parse_config(fine, ".")).trajectory);
  INFO("max |sv_law_residual|: h = 0.2: " << coarse_law << ", h = 0.05: " << fine_law);
  CHECK(coarse_law > 0);
  CHECK(fine_law < coarse_law / 16);
}

TEST_CASE("config observers: a Gaussian operator and the X flow give the same observations", "[config][observers]") {
  json c = observer_config("gaussian");
  c["observe"]["manifold_distance"]["upper"] = false;  // the Gauss-Newton part is costly; lower only here
  const RunResult factor = run(parse_config(c, "."));
  c["flow"] = "gram";
  const RunResult gram = run(parse_config(c, "."));
  REQUIRE(factor.trajectory.summary.ok());
  REQUIRE(gram.trajectory.summary.ok());
  CHECK(factor.trajectory.columns == gram.trajectory.columns);
  // Every theory metric depends on U only through UU^T (or up to rotation), so the two
  // runs agree to integration accuracy (both at rtol 1e-11).
  for (const char* col : {"dist_Mb_lower", "sigma_m_Dg", "procrustes_s1", "zstar_gap_s1", "E_2", "x_eig_2", "G"}) {
    INFO(col);
    const auto a = factor.trajectory.column(col), b = gram.trajectory.column(col);
    for (std::size_t k = 0; k < a.size(); ++k) CHECK(std::abs(a[k] - b[k]) <= 1e-6 * std::max(1.0, std::abs(a[k])));
  }
  CHECK(std::isnan(factor.trajectory.column("dist_Mb_upper").back()));
}

TEST_CASE("config observers: bad observer options name the field", "[config][observers]") {
  json c = observer_config("full");
  SECTION("not a boolean or object") {
    c["observe"]["gram_spectrum"] = "yes";
    require_bad(c, "observe.gram_spectrum", {"true, false or an object"});
  }
  SECTION("unknown option") {
    c["observe"]["licq"] = {{"methd", "dense"}};
    require_bad(c, "observe.licq.methd", {"unknown field", "method"});
  }
  SECTION("unknown eigensolver") {
    c["observe"]["licq"] = {{"method", "qr"}};
    require_bad(c, "observe.licq.method", {"'qr'", "auto, dense, lanczos"});
  }
  SECTION("xi must be positive") {
    c["observe"]["manifold_distance"] = {{"xi", -1}};
    require_bad(c, "observe.manifold_distance.xi", {"positive", "-1"});
  }
  SECTION("E_s beyond the truth's rank") {
    c["observe"]["relative_error"] = {{"k", 3}};
    require_bad(c, "observe.relative_error.k", {"[1, rank(X♮) = 2]", "got 3"});
  }
  SECTION("Z*_s beyond d") {
    c["observe"]["best_rank"] = {{"s_max", 6}};
    require_bad(c, "observe.best_rank.s_max", {"[1, d = 5]", "got 6"});
  }
  SECTION("the law's k beyond the width") {
    c["observe"]["singular_value_law"] = {{"k", 4}};
    require_bad(c, "observe.singular_value_law.k", {"min(d, width) = 3", "got 4"});
  }
  SECTION("the law's floor") {
    c["observe"]["singular_value_law"] = {{"floor", 0}};
    require_bad(c, "observe.singular_value_law.floor", {"(0, 1)"});
  }
  SECTION("the energy identity has no options") {
    c["observe"]["energy_identity"] = {{"every", 2}};
    require_bad(c, "observe.energy_identity.every", {"unknown field"});
  }
}
