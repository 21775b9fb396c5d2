// Tests of the inequality probes (verdict/probes.hpp) and the search behind them.
#include <catch2/catch.hpp>

#include <cmath>

#include "flowsense/analysis/procrustes.hpp"
#include "flowsense/verdict/probes.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

ProbeOptions small_budget(std::uint64_t seed, double factor = 1.0) {
  ProbeOptions o;
  o.search.seed = seed;
  o.search.random_points = 120;
  o.search.local_starts = 2;
  o.search.local_evaluations = 300;
  o.constant_factor = factor;
  return o;
}

}  // namespace

TEST_CASE("Lemma F.2 as stated fails on the hand example and the probe finds it", "[verdict][probe]") {
  // U = e1, V = 0.5 e2 (d = 2, p = 1): lhs = sqrt(1.0625), dist = sqrt(1.25), max sigma = 1.
  Matrix U(2, 1), V(2, 1);
  U << 1, 0;
  V << 0, 0.5;
  const double lhs = (U * U.transpose() - V * V.transpose()).norm();
  const double dist = procrustes(U, V).distance;
  CHECK_THAT(lhs, WithinRel(std::sqrt(1.0625), 1e-14));
  CHECK_THAT(dist, WithinRel(std::sqrt(1.25), 1e-14));
  CHECK(lhs < 1.0 * dist);   // the stated max version fails
  CHECK(lhs >= 0.5 * dist);  // the min version holds

  const Verdict stated = probe_lemma_f2(small_budget(3));
  CHECK(stated.status == VerdictStatus::violated);
  CHECK(stated.quantity("min_relative_slack") < -1e-3);
  REQUIRE(stated.witnesses.size() == 2);
  // The witness really violates the stated inequality (re-checked from the matrices).
  const Matrix& Uw = stated.witnesses[0].value;
  const Matrix& Vw = stated.witnesses[1].value;
  const Vector su = Eigen::JacobiSVD<Matrix>(Uw).singularValues(), sv = Eigen::JacobiSVD<Matrix>(Vw).singularValues();
  auto smallest_nonzero = [](const Vector& s) {
    double m = s[0];
    for (Index i = 0; i < s.size(); ++i)
      if (s[i] > 1e-8 * s[0]) m = s[i];
    return m;
  };
  const double rhs = std::max(smallest_nonzero(su), smallest_nonzero(sv)) * procrustes(Uw, Vw).distance;
  CHECK((Uw * Uw.transpose() - Vw * Vw.transpose()).norm() < rhs * (1 - 1e-6));
}

TEST_CASE("Lemma F.2 with min holds on every shape, and fails when made 10 times stronger", "[verdict][probe]") {
  const Verdict corrected = probe_lemma_f2(small_budget(5), SigmaCombination::min_corrected);
  INFO(corrected.summary);
  CHECK(corrected.status == VerdictStatus::holds);
  CHECK(corrected.quantity("min_relative_slack") >= 0.0);
  CHECK(corrected.quantity("admissible_points") > 500);
  CHECK(corrected.table("families").rows.size() == default_procrustes_shapes().size());

  const Verdict planted = probe_lemma_f2(small_budget(5, 10.0), SigmaCombination::min_corrected);
  CHECK(planted.status == VerdictStatus::violated);

  // Full-rank square factors: the stated max version holds there (both ranks = d).
  const Verdict square = probe_lemma_f2(small_budget(6), SigmaCombination::max_as_stated,
                                        {{3, 3, 3, 3}, {2, 2, 2, 2}});
  INFO(square.summary);
  CHECK(square.status == VerdictStatus::holds);
}

TEST_CASE("Lemma E.1 on injective operators: stated fails, corrected holds, planted fails", "[verdict][probe]") {
  const std::vector<ProcrustesShape> shapes = {{2, 1, 1, 1}, {3, 2, 2, 2}};
  const Verdict stated = probe_lemma_e1(small_budget(7), SigmaCombination::max_as_stated, shapes);
  CHECK(stated.status == VerdictStatus::violated);
  CHECK(stated.witnesses.size() == 3);  // U, V and the operator
  const Verdict corrected = probe_lemma_e1(small_budget(7), SigmaCombination::min_corrected, shapes);
  CHECK(corrected.status == VerdictStatus::holds);
  const Verdict planted = probe_lemma_e1(small_budget(7, 10.0), SigmaCombination::min_corrected, shapes);
  CHECK(planted.status == VerdictStatus::violated);
}

TEST_CASE("PL inequality (12) holds pointwise and fails with mu times 10", "[verdict][probe]") {
  const std::vector<PlShape> shapes = {{4, 3, 7, 2}};
  const Verdict v = probe_pl_inequality(small_budget(11), shapes);
  INFO(v.summary);
  CHECK(v.status == VerdictStatus::holds);
  CHECK(v.quantity("min_relative_slack") >= 0.0);
  const Verdict planted = probe_pl_inequality(small_budget(11, 10.0), shapes);
  CHECK(planted.status == VerdictStatus::violated);
  CHECK(planted.witnesses.size() == 4);
}

TEST_CASE("Lemma 5.1 holds on exact-RIP operators and fails with the constant divided by 1000",
          "[verdict][probe]") {
  ProbeOptions o = small_budget(13);
  o.search.random_points = 40;
  o.search.local_evaluations = 150;
  const std::vector<Lemma51Shape> shapes = {{5, 2, 1}};
  const Verdict v = probe_lemma_5_1(o, shapes);
  INFO(v.summary);
  CHECK(v.status == VerdictStatus::holds);
  CHECK(v.quantity("delta_at_min") <= v.quantity("delta_max_at_min"));
  CHECK(v.quantity("newton_curvature_at_min") > 0);
  o.constant_factor = 1000.0;
  const Verdict planted = probe_lemma_5_1(o, shapes);
  INFO(planted.summary);
  CHECK(planted.status == VerdictStatus::violated);
}
