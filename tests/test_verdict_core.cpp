// Tests of the verdict type, its writer and the adversarial search (verdict/verdict.hpp,
// verdict/figure.hpp, verdict/search.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "flowsense/io/npy.hpp"
#include "flowsense/verdict/search.hpp"
#include "flowsense/verdict/verdict.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("nelder_mead minimizes a shifted quadratic and the Rosenbrock valley", "[verdict][search]") {
  auto quad = [](const Vector& x) { return (x - Vector::LinSpaced(x.size(), 1, 4)).squaredNorm(); };
  double best = 0;
  const Vector x = nelder_mead(quad, Vector::Zero(4), 0.5, 4000, &best);
  CHECK(best < 1e-12);
  CHECK((x - Vector::LinSpaced(4, 1, 4)).norm() < 1e-5);

  auto rosen = [](const Vector& x) { return 100 * std::pow(x[1] - x[0] * x[0], 2) + std::pow(1 - x[0], 2); };
  Vector x0(2);
  x0 << -1.2, 1.0;
  const Vector xr = nelder_mead(rosen, x0, 0.2, 3000, &best);
  CHECK(best < 1e-10);
  CHECK_THAT(xr[0], WithinAbs(1.0, 1e-4));
}

TEST_CASE("search_inequality finds a planted violation and not a false one", "[verdict][search]") {
  // lhs = ||x||^2, rhs = c * (x_0^2): true for c <= 1, false for c > 1 (x along e_0).
  auto family = [](double c) {
    InequalityFamily f;
    f.name = "c=" + std::to_string(c);
    f.dimension = 3;
    f.evaluate = [c](const Vector& x) {
      InequalityValue v;
      v.lhs = x.squaredNorm();
      v.rhs = c * x[0] * x[0];
      return v;
    };
    f.samplers.push_back({"gaussian", [](Rng& rng) {
                            Vector x(3);
                            for (int i = 0; i < 3; ++i) x[i] = rng.normal();
                            return x;
                          }});
    return f;
  };
  SearchOptions o;
  o.random_points = 50;
  o.local_starts = 2;
  o.local_evaluations = 400;
  const SearchResult ok = search_inequality({family(1.0)}, o);
  CHECK_FALSE(ok.violated());
  CHECK(ok.families[0].min_slack >= 0.0);
  CHECK(ok.families[0].min_slack < 1e-3);  // the local search approaches equality
  const SearchResult bad = search_inequality({family(1.01)}, o);
  CHECK(bad.violated());
  CHECK(bad.families[0].min_slack < -0.009);  // 1 - 1.01 relative at x = e_0
  CHECK(bad.tried() == bad.families[0].tried);

  SearchOptions invalid = o;
  invalid.tolerance = -1;
  CHECK_THROWS_AS(search_inequality({family(1.0)}, invalid), std::invalid_argument);
}


TEST_CASE("write_verdict writes JSON, Markdown, SVG and the witnesses", "[verdict][writer]") {
  Verdict v;
  v.claim = {"Test claim", "x >= y for all x | y", "nowhere, eq. (0)"};
  v.status = VerdictStatus::violated;
  v.summary = "a planted violation";
  v.hypotheses.push_back({"h1", HypothesisStatus::met, "exactly"});
  v.add("slack", -0.5, "lhs - rhs");
  v.add("not_a_number", std::nan(""), "stays valid JSON");
  v.tolerances.push_back({"tol", 1e-8, "rounding"});
  EvidenceTable t;
  t.name = "rows";
  t.columns = {"a", "b"};
  t.row_labels = {"first", "second"};
  t.rows = {{1, 2}, {3, std::numeric_limits<double>::infinity()}};
  v.tables.push_back(t);
  Matrix W(2, 3);
  W << 1, 2, 3, 4, 5, 6;
  v.witnesses.push_back({"W", W, "a witness"});
  Panel p;
  p.title = "panel";
  p.log_y = true;
  p.series.push_back({"s", {1, 2, 3}, {1e-3, 0.0, 1e2}});  // the 0 is dropped on a log axis
  p.hlines.push_back({1.0, "one"});
  v.figure.panels.push_back(p);
  v.setup = {{"seed", 7}};

  CHECK(v.quantity("slack") == -0.5);
  CHECK_THROWS_AS(v.quantity("missing"), std::out_of_range);
  CHECK(v.table("rows").rows.size() == 2);

  const auto dir = std::filesystem::temp_directory_path() /
                   ("flowsense_verdict_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  write_verdict(v, (dir / "out").string());
  const auto json = nlohmann::json::parse(slurp(dir / "out" / "verdict.json"));
  CHECK(json["status"] == "violated");
  CHECK(json["claim"]["name"] == "Test claim");
  CHECK(json["evidence"][1]["value"] == "nan");
  CHECK(json["tables"][0]["rows"][1][1] == "inf");
  CHECK(json["tables"][0]["row_labels"][1] == "second");
  CHECK(json["setup"]["seed"] == 7);
  const std::string md = slurp(dir / "out" / "verdict.md");
  CHECK(md.find("# Test claim: **violated**") != std::string::npos);
  CHECK(md.find("**Claim.** x >= y for all x | y") != std::string::npos);
  CHECK(md.find("| first |") != std::string::npos);
  const std::string svg = slurp(dir / "out" / "figure.svg");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  // No temporary files are left behind by the atomic writes.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "out"))
    CHECK(e.path().string().find(".tmp.") == std::string::npos);

  CHECK(json["witnesses"][0]["file"] == "witness/W.npy");
  const Matrix back = read_npy_matrix((dir / "out" / "witness" / "W.npy").string());
  CHECK(back == W);
  Verdict bad = v;
  bad.witnesses[0].name = "../escape";
  CHECK_THROWS_AS(write_verdict(bad, (dir / "bad").string()), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST_CASE("render_svg handles empty, constant and non-finite series", "[verdict][writer]") {
  Figure f;
  f.title = "t";
  Panel p;
  p.series.push_back({"const", {0, 1}, {2, 2}});
  p.series.push_back({"missing", {0, 1}, {std::nan(""), std::nan("")}});
  f.panels.push_back(p);
  Panel q;
  q.log_x = q.log_y = true;
  f.panels.push_back(q);
  const std::string svg = render_svg(f);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
}
