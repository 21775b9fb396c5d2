// Runs every verdict of flowsense on small seeded problems and writes one verdict
// directory per claim (verdict.json, verdict.md, figure.svg, witness/*.npy):
//
//   check_theorems OUT_DIR [--quick]
//
// The outputs are what docs/verdicts/*.md show. --quick uses smaller search budgets
// and shorter runs (for a smoke test); without it the budgets of the docs are used.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "flowsense/core/random.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/verdict/probes.hpp"
#include "flowsense/verdict/trajectory_checks.hpp"

using namespace flowsense;

namespace {

void report(const std::string& out, const std::string& name, const Verdict& v, double seconds) {
  write_verdict(v, out + "/" + name);
  std::printf("%-16s %-13s %6.1fs  %s\n", name.c_str(), to_string(v.status).c_str(), seconds, v.claim.name.c_str());
  std::printf("    %s\n", v.summary.c_str());
}

template <class F>
void run(const std::string& out, const std::string& name, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  const Verdict v = f();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report(out, name, v, s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--quick") != 0)) {
    std::fprintf(stderr, "usage: %s OUT_DIR [--quick]\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  const bool quick = argc == 3;

  // ---- inequality probes ----
  ProbeOptions probe;
  probe.search.seed = 2024;
  if (quick) {
    probe.search.random_points = 100;
    probe.search.local_starts = 2;
    probe.search.local_evaluations = 300;
  }
  run(out, "lemma_f2", [&] { return probe_lemma_f2(probe); });
  run(out, "lemma_f2_min", [&] { return probe_lemma_f2(probe, SigmaCombination::min_corrected); });
  run(out, "lemma_e1", [&] { return probe_lemma_e1(probe); });
  run(out, "lemma_e1_min", [&] { return probe_lemma_e1(probe, SigmaCombination::min_corrected); });
  run(out, "pl_inequality", [&] { return probe_pl_inequality(probe); });
  run(out, "lemma_5_1", [&] { return probe_lemma_5_1(probe); });
  {
    ProbeOptions planted = probe;
    planted.constant_factor = 10.0;
    run(out, "pl_planted_x10", [&] { return probe_pl_inequality(planted); });
  }

  // ---- Example 1.1 of paper 000: d = 30, rank(X♮) = 2, trace 1, m = 4 rank(X♮) d = 240 ----
  const Index d = 30, m = 240;
  auto op = std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 11);
  Problem example = Problem::noiseless(op, planted_trace_one(d, 2, 12));
  example.xi = 1.1;  // (model) needs ||X♮|| < xi^2; ||X♮|| <= tr X♮ = 1
  IntegrateOptions dopri;
  dopri.stepper = StepperKind::dopri5;
  dopri.rtol = 1e-9;
  dopri.atol = 1e-14;
  const double t_end = quick ? 5.0 : 20.0;

  RunSetup c1;
  c1.problem = example;
  c1.c = 0.25;
  c1.U0 = random_factor(d, d, 5, 1.0, 13);  // rank 5, ||U0||_F = 1, 30 x 30
  c1.options = dopri;
  c1.times = log_times(1e-5, t_end, 120);
  c1.description = {{"example", "paper 000 Example 1.1 sizes"}, {"operator_seed", 11}, {"planted_seed", 12},
                    {"U0", "random_factor(30, 30, rank 5, ||U0||_F = 1, seed 13)"}};
  run(out, "lemma_c1", [&] { return check_lemma_c1(c1); });
  RunSetup c1_small = c1;
  c1_small.U0 = random_factor(d, d, 3, 1e-3, 14);
  c1_small.description["U0"] = "random_factor(30, 30, rank 3, ||U0||_F = 1e-3, seed 14)";
  c1_small.times = log_times(1e-5, quick ? 20.0 : 60.0, 120);
  run(out, "lemma_c1_small_init", [&] { return check_lemma_c1(c1_small); });

  // ---- Theorem 3.2 ----
  Theorem32Options t32;
  t32.seed = 5;
  if (quick) {
    t32.manifold_starts = 6;
    t32.isometry.random_starts = 3;
  }
  RunSetup e11 = c1;
  e11.U0 = random_factor(d, d, 2, 1.0, 15);  // low rank (= rank X♮), ||U0||_F = 1 (Fig. 2, low-rank)
  e11.times = log_times(1e-5, quick ? 20.0 : 200.0, 120);
  e11.description = {{"example", "paper 000 Example 1.1, Fig. 2 low-rank start"}, {"operator_seed", 11},
                     {"planted_seed", 12}, {"U0", "random_factor(30, 30, rank 2, ||U0||_F = 1, seed 15)"}};
  run(out, "theorem_3_2", [&] { return check_theorem_3_2(e11, t32); });

  // An instance built to satisfy Assumption 3.1(i) and the dimension count behind (ii):
  // d = 10, rank(X♮) = 3, m = 27 <= d r - r(r-1)/2 = 27, p = 3, U0 near the planted factor.
  {
    const Index dd = 10, mm = 27, rr = 3;
    auto op2 = std::make_shared<GaussianOperator>(dd, mm, GaussianScale::unit, 21);
    Problem pr = Problem::noiseless(op2, planted_trace_one(dd, rr, 22));
    pr.xi = 1.1;
    Eigen::SelfAdjointEigenSolver<Matrix> eig(pr.planted);
    Matrix Un = Matrix::Zero(dd, rr);
    for (Index k = 0; k < rr; ++k)
      Un.col(k) = eig.eigenvectors().col(dd - 1 - k) * std::sqrt(std::max(eig.eigenvalues()[dd - 1 - k], 0.0));
    RunSetup near;
    near.problem = pr;
    near.c = 0.25;
    near.U0 = Un + 0.02 * Rng(23).normal_matrix(dd, rr) / std::sqrt(static_cast<double>(dd * rr));
    near.options = dopri;
    near.times = log_times(1e-5, quick ? 50.0 : 20000.0, 160);
    near.description = {{"example", "d = 10, rank(X♮) = 3, m = 27, p = 3, U0 = planted factor + 0.02 noise"},
                        {"operator_seed", 21}, {"planted_seed", 22}, {"noise_seed", 23}};
    run(out, "theorem_3_2_designed", [&] { return check_theorem_3_2(near, t32); });
  }

  // ---- Theorem 4.1 of paper 003 (Section 6 setup, scaled down) ----
  {
    const Index d3 = 20, m3 = 600;
    const std::vector<double> eigen = {1.0, 0.6, 0.3};
    Theorem41Setup s;
    auto op3 = std::make_shared<GaussianOperator>(d3, m3, GaussianScale::inv_sqrt_m, 31);
    s.problem = Problem::noiseless(op3, planted_orthogonal(d3, eigen, 32));
    s.direction = Rng(33).normal_matrix(d3, d3);  // r = d: over-parameterized, as in 003 Section 6.1
    s.alphas = quick ? std::vector<double>{1e-2, 1e-4} : std::vector<double>{1e-1, 1e-2, 1e-4, 1e-6};
    s.options = dopri;
    s.t_end = 150.0;
    s.observations = quick ? 150 : 400;
    s.learning_rate = 0.005;  // 003 Section 6: mu = 0.005 (flow time t = iteration t/mu)
    s.description = {{"example", "paper 003 Section 6, scaled down: d = 20, r* = 3, m = 600, r = 20"},
                     {"eigenvalues", eigen}, {"operator_seed", 31}, {"planted_seed", 32}, {"direction_seed", 33}};
    Theorem41Options o;
    o.isometry.random_starts = quick ? 2 : 6;
    run(out, "theorem_4_1", [&] { return check_theorem_4_1(s, o); });

    Theorem41Setup full = s;
    full.problem = Problem::noiseless(std::make_shared<FullObservation>(d3), s.problem.planted);
    full.description["example"] = "the same Z* and Ubar under full observation (delta = 0, Z*_s exact)";
    run(out, "theorem_4_1_full", [&] { return check_theorem_4_1(full, o); });
  }
  return 0;
}
