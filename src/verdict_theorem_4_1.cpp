// Theorem 4.1 of paper 003 (incremental learning) along flow runs from alpha * Ubar.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/isometry.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/observe/theory_metrics.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "flowsense/verdict/trajectory_checks.hpp"

namespace flowsense {

std::string Theorem41Setup::validate() const {
  std::ostringstream s;
  if (!problem.op) return "problem.op: no sensing operator";
  const Index d = problem.dim();
  if (direction.rows() != d || direction.cols() < 1)
    s << "direction: expected " << d << " rows and at least one column, got " << direction.rows() << " x "
      << direction.cols();
  else if (!direction.allFinite() || direction.norm() == 0)
    s << "direction: expected a finite nonzero matrix";
  else if (alphas.empty())
    s << "alphas: expected at least one initialization scale";
  else if (std::any_of(alphas.begin(), alphas.end(), [](double a) { return !(a > 0) || !std::isfinite(a); }))
    s << "alphas: every scale must be finite and > 0";
  else if (auto e = options.validate(); !e.empty())
    s << "options: " << e;
  else if (!(t_end > 0) || !std::isfinite(t_end))
    s << "t_end: expected a finite time > 0, got " << t_end;
  else if (observations < 10)
    s << "observations: expected at least 10, got " << observations;
  else if (learning_rate < 0 || !std::isfinite(learning_rate))
    s << "learning_rate: expected >= 0 (0 = none), got " << learning_rate;
  return s.str();
}

std::string Theorem41Options::validate() const {
  if (s_max < 0) return "s_max: expected >= 0 (0 = r ∧ rank(Z*)), got " + std::to_string(s_max);
  if (!(rank_tol > 0 && rank_tol < 1)) return "rank_tol: expected 0 < rank_tol < 1, got " + std::to_string(rank_tol);
  if (auto e = best_rank.validate(); !e.empty()) return "best_rank." + e;
  if (auto e = isometry.validate(); !e.empty()) return "isometry." + e;
  return {};
}

namespace {

struct AlphaRun {
  double alpha = 0;
  Trajectory trajectory;
  std::vector<std::size_t> T_index;  ///< per s: the row of min ||UU^T - Z*_s||
  std::vector<double> T, min_gap, rel_gap, max_sigma_before;
  bool ordered = true;
  std::vector<bool> at_end;
};

/// Least-squares slope of log y against log x (NaN with fewer than 2 usable points).
double log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> lx, ly;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i] > 0 && y[i] > 0) {
      lx.push_back(std::log(x[i]));
      ly.push_back(std::log(y[i]));
    }
  if (lx.size() < 2) return std::nan("");
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < lx.size(); ++i) {
    mx += lx[i];
    my += ly[i];
  }
  mx /= lx.size();
  my /= ly.size();
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < lx.size(); ++i) {
    sxy += (lx[i] - mx) * (ly[i] - my);
    sxx += (lx[i] - mx) * (lx[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : std::nan("");
}

}  // namespace

Verdict check_theorem_4_1(const Theorem41Setup& setup, const Theorem41Options& options) {
  if (auto e = setup.validate(); !e.empty()) throw std::invalid_argument("check_theorem_4_1(): " + e);
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("check_theorem_4_1(): " + e);
  const Problem& problem = setup.problem;
  const Index d = problem.dim();
  const Index r = setup.direction.cols();
  const SensingLoss loss(problem, loss_constant::paper003);

  // The truth Z* = X X^T: eigenvalues sigma_i^2 (descending), rank r*, kappa.
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (problem.planted + problem.planted.transpose()));
  Vector lam = eig.eigenvalues().reverse();
  Matrix V = eig.eigenvectors().rowwise().reverse();
  const Index r_star = numerical_rank(lam.cwiseMax(0.0), options.rank_tol);
  if (r_star < 1) throw std::invalid_argument("check_theorem_4_1(): the planted matrix Z* is zero");
  const Index s_max = options.s_max > 0 ? std::min<Index>(options.s_max, std::min(r, r_star)) : std::min(r, r_star);
  double tau = lam[r_star - 1];
  bool distinct = true;
  for (Index k = 0; k + 1 < r_star; ++k) {
    tau = std::min(tau, lam[k] - lam[k + 1]);
    if (!(lam[k] - lam[k + 1] > options.rank_tol * lam[0])) distinct = false;
  }
  const double kappa = lam[0] / tau;
  const double delta_bound = 1e-7 / (std::pow(kappa, 4) * static_cast<double>(r_star));

  Verdict v;
  v.claim.name = "Theorem 4.1 (paper 003), gradient-flow form";
  v.claim.statement =
      "Under Assumption 3.1 (A is (2r*+1, delta)-RIP with delta <= 1e-7 kappa^-4 r*^-1) and Assumption 3.2 "
      "(sigma_min(V_{X_s}^T Ubar) >= rho for 1 <= s <= r ∧ r*), GD (3) with mu <= 1/(10^3 ||Z*||) from "
      "U_{alpha,0} = alpha Ubar (||Ubar|| = 1): there exist universal constants c, M > 0, a constant C(r, kappa) and "
      "times T^1_alpha < T^2_alpha < ... < T^{r ∧ r*}_alpha such that for all 1 <= s <= r ∧ r*, when alpha = "
      "O((rho r*)^{-c kappa}), ||U_{alpha,T^s} U_{alpha,T^s}^T - Z*_s||_F <= C alpha^{1/(M kappa^2)}; moreover "
      "lim_{alpha -> 0} max_{1 <= t <= T^s_alpha} sigma_{s+1}(U_{alpha,t}) = 0. Z*_s is the best rank-s solution "
      "(Def. 1.1), kappa = sigma_1^2 / min_s (sigma_s^2 - sigma_{s+1}^2). Checked on the gradient flow U' = "
      "A^*(b - A(UU^T)) U (the mu -> 0 limit of (3); flow time t = GD iteration t/mu), with T_s taken as the "
      "observation time where ||U_t U_t^T - Z*_s||_F is smallest.";
  v.claim.source = "paper 003 (incremental learning), Section 4, Theorem 4.1 (restated as Theorem F.1); "
                   "Definition 1.1, Assumptions 3.1-3.2, Definition 3.2";
  v.setup = {{"check", "theorem_4_1"},
             {"d", d},
             {"r", r},
             {"m", problem.measurements()},
             {"operator", problem.op->name()},
             {"loss_constant", loss_constant::paper003},
             {"alphas", setup.alphas},
             {"t_end", setup.t_end},
             {"observations", setup.observations},
             {"stepper", to_string(setup.options.stepper)},
             {"rtol", setup.options.rtol},
             {"atol", setup.options.atol},
             {"learning_rate", setup.learning_rate},
             {"s_max", s_max},
             {"description", setup.description}};

  // Z*_s: exact for full observation (Eckart-Young), else the certified solver.
  const bool full = dynamic_cast<const FullObservation*>(problem.op.get()) != nullptr;
  std::vector<Matrix> factors, Zs;
  EvidenceTable zt;
  zt.name = "best_rank_solutions";
  zt.caption = full ? "Z*_s for full observation: the truncated eigendecomposition of Z* (exact)."
                    : "Z*_s from analysis/best_rank.hpp: multi-start L-BFGS + Newton with its certificate.";
  zt.columns = {"s", "||Z*_s||_F", "relative_gradient", "hessian_min", "solution_spread", "certified"};
  if (full) {
    for (Index s = 1; s <= s_max; ++s) {
      Matrix F = V.leftCols(s) * lam.head(s).cwiseMax(0.0).cwiseSqrt().asDiagonal();
      Zs.push_back(truncated_psd(problem.planted, static_cast<int>(s)));
      factors.push_back(F);
      zt.rows.push_back({static_cast<double>(s), Zs.back().norm(), 0.0, std::nan(""), 0.0, 1.0});
    }
  } else {
    const auto sols = best_rank_solutions(loss, static_cast<int>(s_max), options.best_rank);
    for (const auto& sol : sols) {
      Zs.push_back(sol.Z);
      factors.push_back(sol.factor);
      zt.rows.push_back({static_cast<double>(sol.s), sol.Z.norm(), sol.relative_gradient, sol.hessian.min,
                         sol.solution_spread, sol.certified ? 1.0 : 0.0});
      if (!sol.certified) v.notes.push_back("Z*_" + std::to_string(sol.s) + " is not certified: " + sol.message);
    }
  }
  v.tables.push_back(zt);

  // Hypotheses.
  if (full) {
    v.hypotheses.push_back({"Assumption 3.1: (2r*+1, delta)-RIP with delta <= 1e-7 kappa^-4 / r*", HypothesisStatus::met,
                            "full observation: ||A(Z)|| = ||Z||_F for every symmetric Z, delta = 0"});
  } else {
    const Index k = std::min<Index>(2 * r_star + 1, d);
    const IsometryEstimate iso = estimate_isometry(*problem.op, k, options.isometry);
    v.add("rip_delta_lower", iso.rip_delta_lower,
          "lower bound on the (2r*+1)-RIP constant (isometry search over symmetric rank <= " + std::to_string(k) + ")");
    if (iso.rip_delta_lower > delta_bound)
      v.hypotheses.push_back({"Assumption 3.1: (2r*+1, delta)-RIP with delta <= 1e-7 kappa^-4 / r*",
                              HypothesisStatus::not_met,
                              "delta >= " + format_significant(iso.rip_delta_lower) + " (a certified lower bound: a rank-" +
                                  std::to_string(k) + " witness attains it) > the required " + format_significant(delta_bound)});
    else
      v.hypotheses.push_back({"Assumption 3.1: (2r*+1, delta)-RIP with delta <= 1e-7 kappa^-4 / r*",
                              HypothesisStatus::unverified,
                              "the search found delta >= " + format_significant(iso.rip_delta_lower) +
                                  " only (a lower bound); an upper bound is not computed"});
  }
  double rho = std::numeric_limits<double>::infinity();
  const Matrix Ubar = setup.direction / Eigen::JacobiSVD<Matrix>(setup.direction).singularValues()[0];
  for (Index s = 1; s <= s_max; ++s) {
    const Vector sv = Eigen::JacobiSVD<Matrix>(V.leftCols(s).transpose() * Ubar).singularValues();
    rho = std::min(rho, sv[sv.size() - 1]);
  }
  v.hypotheses.push_back({"Assumption 3.2: sigma_min(V_{X_s}^T Ubar) >= rho > 0 for s <= r ∧ r*",
                          rho > 1e-12 ? HypothesisStatus::met : HypothesisStatus::not_met, "rho = " + format_significant(rho)});
  v.hypotheses.push_back({"distinct singular values of Z* (Section 3)",
                          distinct ? HypothesisStatus::met : HypothesisStatus::not_met,
                          "eigenvalues of Z*: min gap tau = " + format_significant(tau)});
  v.add("r_star", static_cast<double>(r_star), "rank of Z*");
  v.add("r", static_cast<double>(r), "width of Ubar");
  v.add("kappa", kappa, "sigma_1^2 / min gap");
  v.add("delta_required", delta_bound, "1e-7 kappa^-4 / r*");
  v.add("rho", rho, "Assumption 3.2");
  v.notes.push_back("Theorem 4.1 is stated for GD (3) with mu <= 1/(10^3 ||Z*||); this check integrates the flow, the "
                    "mu -> 0 limit (flow time t corresponds to GD iteration t/mu).");
  v.notes.push_back("The statement is asymptotic in alpha with unspecified constants c, M, C; finite runs can be "
                    "consistent with it (holds) or not (inconclusive), never a certified violation.");

  // The runs.
  std::vector<double> alphas = setup.alphas;
  std::sort(alphas.begin(), alphas.end(), std::greater<double>());
  const std::vector<double> times = log_times(setup.t_end * 1e-4, setup.t_end, setup.observations, true);
  std::vector<AlphaRun> runs;
  for (double a : alphas) {
    FactorFlow flow(loss);
    std::vector<std::shared_ptr<Metric>> metrics = {
        std::make_shared<TimeMetric>(), std::make_shared<TrainingErrorMetric>(),
        std::make_shared<BestRankDistanceMetric>(factors),
        std::make_shared<SingularValuesMetric>(static_cast<int>(std::min<Index>(s_max + 1, std::max<Index>(r, 1))))};
    Recorder recorder(loss, StateKind::factor, metrics);
    Matrix U = a * Ubar;
    Watch watch;
    watch.observe = recorder.observer();
    const Summary summary = integrate(flow, U, times, setup.options, watch);
    recorder.finish(summary);
    AlphaRun run;
    run.alpha = a;
    run.trajectory = recorder.take();
    const auto t = run.trajectory.column("t");
    for (Index s = 1; s <= s_max; ++s) {
      const auto gap = run.trajectory.column("zstar_gap_s" + std::to_string(s));
      const std::size_t i = static_cast<std::size_t>(std::min_element(gap.begin(), gap.end()) - gap.begin());
      run.T_index.push_back(i);
      run.T.push_back(t[i]);
      run.min_gap.push_back(gap[i]);
      run.rel_gap.push_back(gap[i] / Zs[static_cast<std::size_t>(s - 1)].norm());
      double ms = 0;
      const std::string col = "sigma_" + std::to_string(s + 1);
      if (s + 1 <= r && run.trajectory.has_column(col)) {
        const auto sig = run.trajectory.column(col);
        for (std::size_t j = 0; j <= i; ++j) ms = std::max(ms, sig[j]);
      }
      run.max_sigma_before.push_back(ms);
      run.at_end.push_back(i + 1 == t.size());
    }
    for (std::size_t k = 1; k < run.T.size(); ++k)
      if (!(run.T[k] > run.T[k - 1])) run.ordered = false;
    if (!summary.ok())
      v.notes.push_back("alpha = " + format_significant(a) + ": the run ended with '" + to_string(summary.termination) +
                        "': " + summary.message);
    runs.push_back(std::move(run));
  }

  // Evidence.
  EvidenceTable pt;
  pt.name = "per_alpha";
  pt.caption = "For each alpha and s: T_s (flow time of the closest approach to Z*_s), the GD iteration T_s/mu if "
               "a learning rate was given, min_t ||U_tU_t^T - Z*_s||_F (absolute and relative to ||Z*_s||_F), and "
               "max sigma_{s+1}(U_t) over t <= T_s (0 when s + 1 > r).";
  pt.columns = {"alpha", "s", "T_s", "T_s/mu", "min_gap", "min_gap_rel", "max_sigma_s+1_before_T_s", "at_end"};
  bool all_ordered = true, premature_end = false;
  for (const auto& run : runs) {
    all_ordered = all_ordered && run.ordered;
    for (std::size_t k = 0; k < run.T.size(); ++k) {
      if (run.at_end[k] && static_cast<Index>(k + 1) < s_max) premature_end = true;
      pt.rows.push_back({run.alpha, static_cast<double>(k + 1), run.T[k],
                         setup.learning_rate > 0 ? run.T[k] / setup.learning_rate : std::nan(""), run.min_gap[k],
                         run.rel_gap[k], run.max_sigma_before[k], run.at_end[k] ? 1.0 : 0.0});
    }
  }
  v.tables.push_back(pt);

  EvidenceTable tt;
  tt.name = "alpha_trend";
  tt.caption = "How the closest approach and the leak into rank s+1 change with alpha: least-squares slopes of "
               "log(min gap) and log(max sigma_{s+1}) against log(alpha) (positive = shrink as alpha -> 0; the "
               "theorem predicts min gap <= C alpha^{1/(M kappa^2)} and max sigma_{s+1} -> 0), and whether the value at "
               "the smallest alpha is below the value at the largest.";
  tt.columns = {"s", "slope_min_gap", "slope_max_sigma", "gap_decreases", "sigma_decreases"};
  bool trends_ok = true;
  const bool several = runs.size() >= 2;
  for (Index s = 1; s <= s_max; ++s) {
    std::vector<double> as, gaps, sigs;
    for (const auto& run : runs) {
      as.push_back(run.alpha);
      gaps.push_back(run.min_gap[static_cast<std::size_t>(s - 1)]);
      sigs.push_back(run.max_sigma_before[static_cast<std::size_t>(s - 1)]);
    }
    const bool gap_dec = several && gaps.back() < gaps.front();
    const bool sig_dec = several && (s + 1 > r || sigs.back() < sigs.front() || sigs.back() == 0.0);
    if (several && (!gap_dec || !sig_dec)) trends_ok = false;
    tt.rows.push_back({static_cast<double>(s), log_slope(as, gaps), log_slope(as, sigs), gap_dec ? 1.0 : 0.0,
                       sig_dec ? 1.0 : 0.0});
  }
  v.tables.push_back(tt);

  const AlphaRun& smallest = runs.back();
  v.add("alpha_smallest", smallest.alpha, "the smallest initialization scale run");
  for (Index s = 1; s <= s_max; ++s) {
    const auto k = static_cast<std::size_t>(s - 1);
    v.add("T_" + std::to_string(s), smallest.T[k], "at the smallest alpha");
    v.add("min_gap_rel_" + std::to_string(s), smallest.rel_gap[k],
          "min_t ||U_tU_t^T - Z*_" + std::to_string(s) + "||_F / ||Z*_" + std::to_string(s) + "||_F, smallest alpha");
    v.add("max_sigma_" + std::to_string(s + 1) + "_before_T_" + std::to_string(s), smallest.max_sigma_before[k],
          "smallest alpha");
  }
  v.add("ordered_at_every_alpha", all_ordered ? 1.0 : 0.0, "T_1 < T_2 < ... for every alpha");
  v.tolerances.push_back(
      {"none beyond the integrator's", setup.options.rtol,
       "ordering compares observation times (resolution: the log grid, " + std::to_string(setup.observations) +
           " points per run); closeness and the sigma_{s+1} leak are reported as numbers and compared across alpha, "
           "not against a threshold, because the theorem's constants C, M are unspecified"});

  // Status.
  bool any_not_met = false, all_met = true;
  for (const auto& h : v.hypotheses) {
    any_not_met = any_not_met || h.status == HypothesisStatus::not_met;
    all_met = all_met && h.status == HypothesisStatus::met;
  }
  std::ostringstream sum;
  sum << "Over " << runs.size() << " initialization scale(s) (alpha from " << format_significant(runs.front().alpha) << " to "
      << format_significant(smallest.alpha) << "): the closest-approach times T_s are " << (all_ordered ? "" : "NOT ")
      << "ordered at every alpha";
  if (several) sum << ", and the closest approach and the leak sigma_{s+1} " << (trends_ok ? "" : "do NOT all ")
                   << "shrink as alpha decreases";
  sum << ". At alpha = " << format_significant(smallest.alpha) << ": ";
  for (Index s = 1; s <= s_max; ++s) {
    const auto k = static_cast<std::size_t>(s - 1);
    sum << "T_" << s << " = " << format_significant(smallest.T[k]) << " (relative gap " << format_significant(smallest.rel_gap[k]) << ")"
        << (s < s_max ? ", " : ". ");
  }
  if (premature_end) sum << "Some Z*_s (s < s_max) is closest only at the last observation: the run may be too short. ";
  if (any_not_met) {
    v.status = VerdictStatus::inconclusive;
    sum << "A hypothesis of the theorem fails here (see Hypotheses), so the theorem makes no claim about these runs; "
           "the observations are reported for what they show.";
  } else if (all_ordered && (trends_ok || !several) && !premature_end) {
    v.status = VerdictStatus::holds;
    sum << "This is consistent with Theorem 4.1" << (all_met ? "" : " (some hypotheses only estimated)")
        << (several ? "." : "; with a single alpha the alpha -> 0 trends are not tested.");
  } else {
    v.status = VerdictStatus::inconclusive;
    sum << "Not consistent at these finite alphas; since the theorem is asymptotic with unspecified constants this is "
           "not a certified violation.";
  }
  v.summary = sum.str();

  // Figure.
  v.figure.title = "Theorem 4.1 (paper 003): incremental learning";
  Panel p1;
  p1.title = "||U_tU_t^T - Z*_s||_F / ||Z*_s||_F at alpha = " + format_significant(smallest.alpha);
  p1.x_label = "flow time t";
  p1.y_label = "relative distance to Z*_s";
  p1.log_x = p1.log_y = true;
  const auto ts = smallest.trajectory.column("t");
  for (Index s = 1; s <= s_max; ++s) {
    Series se;
    se.label = "s = " + std::to_string(s);
    se.x = ts;
    const auto gap = smallest.trajectory.column("zstar_gap_s" + std::to_string(s));
    for (double g : gap) se.y.push_back(g / Zs[static_cast<std::size_t>(s - 1)].norm());
    p1.series.push_back(std::move(se));
    p1.vlines.push_back({smallest.T[static_cast<std::size_t>(s - 1)], "T_" + std::to_string(s)});
  }
  v.figure.panels.push_back(std::move(p1));
  Panel p2;
  p2.title = "singular values of U_t at alpha = " + format_significant(smallest.alpha);
  p2.x_label = "flow time t";
  p2.y_label = "sigma_k(U_t)";
  p2.log_x = p2.log_y = true;
  for (Index k = 1; k <= std::min<Index>(s_max + 1, r); ++k) {
    Series se;
    se.label = "k = " + std::to_string(k);
    se.x = ts;
    se.y = smallest.trajectory.column("sigma_" + std::to_string(k));
    p2.series.push_back(std::move(se));
  }
  for (Index s = 1; s <= s_max; ++s) p2.vlines.push_back({smallest.T[static_cast<std::size_t>(s - 1)], ""});
  v.figure.panels.push_back(std::move(p2));
  if (several) {
    Panel p3;
    p3.title = "closest approach against alpha";
    p3.x_label = "alpha";
    p3.y_label = "min_t ||U_tU_t^T - Z*_s||_F / ||Z*_s||_F";
    p3.log_x = p3.log_y = true;
    for (Index s = 1; s <= s_max; ++s) {
      Series se;
      se.label = "s = " + std::to_string(s);
      se.markers = true;
      for (const auto& run : runs) {
        se.x.push_back(run.alpha);
        se.y.push_back(run.rel_gap[static_cast<std::size_t>(s - 1)]);
      }
      p3.series.push_back(std::move(se));
    }
    v.figure.panels.push_back(std::move(p3));
  }
  return v;
}

}  // namespace flowsense
