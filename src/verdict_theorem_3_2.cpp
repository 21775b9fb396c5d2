// Theorem 3.2 of paper 000 (implicit bias with a low-rank start inside the capture radii).
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "flowsense/analysis/capture_radii.hpp"
#include "flowsense/analysis/isometry.hpp"
#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/analysis/manifold_distance.hpp"
#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "flowsense/verdict/trajectory_checks.hpp"

namespace flowsense {

std::string Theorem32Options::validate() const {
  auto in01 = [](double x) { return x > 0 && x < 1; };
  if (!in01(rank_tol)) return "rank_tol: expected 0 < rank_tol < 1, got " + std::to_string(rank_tol);
  if (!in01(effrank_tol)) return "effrank_tol: expected 0 < effrank_tol < 1, got " + std::to_string(effrank_tol);
  if (!in01(converged_tol)) return "converged_tol: expected 0 < converged_tol < 1, got " + std::to_string(converged_tol);
  if (!(recovery_tol > 0) || !(failure_tol > recovery_tol))
    return "recovery_tol, failure_tol: expected 0 < recovery_tol < failure_tol, got " + std::to_string(recovery_tol) +
           ", " + std::to_string(failure_tol);
  if (manifold_starts < 1) return "manifold_starts: expected >= 1, got " + std::to_string(manifold_starts);
  if (auto e = isometry.validate(); !e.empty()) return "isometry." + e;
  return {};
}

namespace {


}  // namespace

Verdict check_theorem_3_2(const RunSetup& setup, const Theorem32Options& options) {
  if (auto e = setup.validate(); !e.empty()) throw std::invalid_argument("check_theorem_3_2(): " + e);
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("check_theorem_3_2(): " + e);
  if (!setup.problem.xi || !(*setup.problem.xi > 0))
    throw std::invalid_argument("check_theorem_3_2(): problem.xi must be set to the bound xi > 0 of (model) and "
                                "(manifold); it defines M_b and the radius (6c)");
  const Problem& problem = setup.problem;
  const double xi = *problem.xi;
  const Index d = problem.dim(), p = setup.U0.cols(), m = problem.measurements();
  const SensingLoss loss(problem, setup.c);
  const Matrix& U0 = setup.U0;
  const Matrix& Xn = problem.planted;

  Verdict v;
  v.claim.name = "Theorem 3.2 (paper 000)";
  v.claim.statement =
      "Consider (model) 0 <= X♮ < xi^2 I and (sense) b = A(X♮). Suppose Assumption 3.1: (i) m/d <= rank(X♮) <= p; "
      "(ii) rank(Delta -> A(Delta U^T)) = m for every U in an open neighbourhood of M_b = {U : A(UU^T) = b, ||U|| <= xi}; "
      "(iii) A(X) = 0 => X = 0 for PSD X with rank(X) <= 2 rank(U0), alpha = min{||A(X)|| : ||X||_F = 1, rank(X) <= "
      "2 rank(U0)}; (iv) rank(U0) >= effrank(X♮); (v) ||U0|| <= xi and any of (6a) ||A(U0U0^T) - b|| < "
      "sigma_m(M_b) sigma_min(M_b) alpha/(4||A||), (6b) ||U0U0^T - X♮||_F < sigma_m(M_b) sigma_min(M_b) alpha/(4||A||^2), "
      "(6c) dist(U0, M_b) < sigma_m(M_b)/(4||A||) min(1, sigma_min(M_b) alpha/(4 xi ||A||)), where sigma_m(M_b) = "
      "min_{U in M_b} sigma_m(Dg(U)) and sigma_min(M_b) = min_{U in M_b} of the smallest nonzero singular value of U. "
      "Then the (flow) converges to a limit point U_ with U_U_^T infinitesimally close to X♮.";
  v.claim.source = "Eftekhari & Zygalakis, Section 3, Theorem 3.2 with Assumption 3.1 and (6a)-(6c); proof in "
                   "Appendices A-E";

  // ---- quantities at U0 and of the truth ----
  const Vector s0 = Eigen::JacobiSVD<Matrix>(U0).singularValues();
  const Index r0 = numerical_rank(s0, options.rank_tol);
  const double u0_norm = s0[0];
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (Xn + Xn.transpose()));
  const Vector lam = eig.eigenvalues().reverse();
  const Index rank_X = numerical_rank(lam.cwiseMax(0.0), 1e-12);
  const Index effrank = numerical_rank(lam.cwiseMax(0.0), options.effrank_tol);
  const double op_norm = operator_norm(*problem.op).value;
  const Matrix U_nat = psd_factor(Xn, p);
  const double b_norm = problem.b.norm();
  v.add("d", static_cast<double>(d));
  v.add("p", static_cast<double>(p));
  v.add("m", static_cast<double>(m));
  v.add("xi", xi, "the norm bound of (model) and (manifold)");
  v.add("rank_U0", static_cast<double>(r0), "at relative tolerance " + format_significant(options.rank_tol, 5));
  v.add("norm_U0", u0_norm, "||U0|| (spectral)");
  v.add("rank_X", static_cast<double>(rank_X), "rank(X♮) at relative tolerance 1e-12");
  v.add("effrank_X", static_cast<double>(effrank), "eigenvalues above " + format_significant(options.effrank_tol, 5) + " lambda_1(X♮)");
  v.add("op_norm", op_norm, "||A|| on symmetric matrices (analysis/operator_norm.hpp)");

  // ---- (model) ----
  const bool model_ok = lam[d - 1] >= -1e-12 * std::max(lam[0], 0.0) && lam[0] < xi * xi;
  v.hypotheses.push_back({"(model) 0 <= X♮ < xi^2 I", model_ok ? HypothesisStatus::met : HypothesisStatus::not_met,
                          "eigenvalues of X♮ in [" + format_significant(lam[d - 1], 5) + ", " + format_significant(lam[0], 5) + "], xi^2 = " + format_significant(xi * xi, 5)});

  // ---- (i) ----
  const bool i_stated = static_cast<double>(m) / static_cast<double>(d) <= static_cast<double>(rank_X) && rank_X <= p;
  {
    std::string detail = "m/d = " + format_significant(static_cast<double>(m) / d, 5) + ", rank(X♮) = " + std::to_string(rank_X) +
                         ", p = " + std::to_string(p) + ".";
    if (!i_stated && m <= p * d && rank_X <= p)
      detail += " Remark 3.4 would perturb X♮ infinitesimally to rank >= m/d (possible since m <= pd); that "
                "perturbation puts singular values of size sqrt(eps) into the planted factor and drives "
                "sigma_m(Dg) there, hence the radii (6a)-(6c), to 0 with eps.";
    v.hypotheses.push_back({"Assumption 3.1(i) m/d <= rank(X♮) <= p", i_stated ? HypothesisStatus::met : HypothesisStatus::not_met,
                            detail});
  }

  // ---- (ii) at the planted factor (a point of M_b) ----
  const LicqMargin licq_nat = licq_margin(*problem.op, U_nat);
  const Index rk = std::min(rank_X, p);
  const Index range_dim = d * rk - rk * (rk - 1) / 2;  // dim of {sym(Delta U^T)} for rank(U) = rk
  const bool nat_in_Mb = lam[0] <= xi * xi;
  v.add("sigma_m_Dg_at_U0", licq_margin(*problem.op, U0).sigma_m,
        "sigma_m(Dg(U0)): the LICQ margin of Assumption 3.1(ii) at the start itself");
  v.add("sigma_m_Dg_at_planted_factor", licq_nat.sigma_m,
        "sigma_m(Dg(U♮)), U♮U♮^T = X♮; U♮ is in M_b exactly when ||X♮|| <= xi^2");
  v.add("range_dim_Dg_at_planted_factor", static_cast<double>(range_dim),
        "d r - r(r-1)/2, r = rank(U♮): the dimension of the range of Dg(U♮); sigma_m = 0 exactly if m exceeds it");

  // ---- (iii) isometry on rank <= 2 r0 ----
  const Index k_iso = std::min<Index>(2 * r0, d);
  double alpha_est = std::nan("");
  std::string alpha_side;
  HypothesisStatus iii_status = HypothesisStatus::unverified;
  std::string iii_detail;
  if (k_iso >= d) {
    // Every symmetric matrix has rank <= d: alpha = sigma_min(A) on Sym(d), exactly.
    const Vector sv = Eigen::JacobiSVD<Matrix>(packed_matrix(*problem.op)).singularValues();
    alpha_est = m >= packed_size(d) ? sv[sv.size() - 1] : 0.0;
    alpha_side = "exact: 2 rank(U0) >= d, so alpha is the smallest singular value of A on Sym(d)";
    iii_status = alpha_est > 1e-12 * op_norm ? HypothesisStatus::met : HypothesisStatus::unverified;
    iii_detail = "alpha = " + format_significant(alpha_est, 5) + " (" + alpha_side + ")" +
                 (iii_status == HypothesisStatus::met ? ""
                                                      : "; alpha = 0 over symmetric X, the PSD version of (iii) "
                                                        "is not decided");
  } else {
    IsometryOptions io = options.isometry;
    io.seed = options.seed;
    const IsometryEstimate iso = estimate_isometry(*problem.op, k_iso, io);
    alpha_est = iso.alpha_upper;
    alpha_side = "UPPER bound (smallest ||A(X)||/||X||_F found over symmetric rank <= " + std::to_string(k_iso) + ")";
    iii_detail = "alpha <= " + format_significant(alpha_est, 5) + " (" + alpha_side +
                 "); a lower bound (needed to verify (iii)) is not computable";
    if (alpha_est <= 1e-8 * op_norm)
      iii_detail += "; the search found a symmetric rank-" + std::to_string(k_iso) +
                    " X with A(X) ~ 0, so the alpha the proof uses in (42) (for the indefinite U_tU_t^T - X♮) is ~0";
  }
  v.add("alpha_estimate", alpha_est, alpha_side);
  v.hypotheses.push_back({"Assumption 3.1(iii) restricted injectivity on rank <= 2 rank(U0)", iii_status, iii_detail});

  // ---- (iv) ----
  v.hypotheses.push_back({"Assumption 3.1(iv) rank(U0) >= effrank(X♮)",
                          r0 >= effrank ? HypothesisStatus::met : HypothesisStatus::not_met,
                          "rank(U0) = " + std::to_string(r0) + ", effrank(X♮) = " + std::to_string(effrank)});

  // ---- the run ----
  FactorFlow flow(loss);
  Recorder recorder(loss, StateKind::factor, standard_metrics(&Xn, options.rank_tol, static_cast<int>(std::min(d, p))));
  Matrix U = U0;
  Watch watch;
  watch.observe = recorder.observer();
  watch.stop_rules = setup.stop_rules;
  watch.stop_rules.push_back(std::make_shared<TrainingErrorBelow>(loss, StateKind::factor,
                                                                  options.converged_tol * options.converged_tol, true));
  const Summary summary = integrate(flow, U, setup.times, setup.options, watch);
  recorder.finish(summary);
  const Trajectory& tr = recorder.trajectory();
  const double res_end = loss.residual(U).norm();
  const double test_end = (U * U.transpose() - Xn).norm();
  const double rel_test_end = test_end / Xn.norm();
  const Index rank_end = numerical_rank(Eigen::JacobiSVD<Matrix>(U).singularValues(), options.rank_tol);
  Matrix grad;
  loss.gradient(U, grad);
  const bool converged = res_end <= options.converged_tol * b_norm;
  v.add("t_end", summary.last.t, "flow time at the end of the run (" + to_string(summary.termination) + ")");
  v.add("training_residual_end", res_end, "||A(UU^T) - b|| at the end");
  v.add("relative_training_residual_end", res_end / b_norm, "divided by ||b||");
  v.add("test_error_end", test_end, "||UU^T - X♮||_F at the end");
  v.add("relative_test_error_end", rel_test_end, "divided by ||X♮||_F");
  v.add("rank_end", static_cast<double>(rank_end), "numerical rank of the limit");
  v.add("gradient_norm_end", grad.norm(), "||grad G_c(U)||_F at the end");

  // ---- (ii) and the constants of M_b from sampled points of M_b ----
  std::vector<Matrix> starts = default_manifold_starts(problem, U0, options.manifold_starts, options.seed);
  starts.push_back(U);  // the limit of the run (on M_b when it converged)
  const ManifoldConstants mc = sample_manifold_constants(loss, xi, starts, {}, options.rank_tol);
  v.add("sigma_m_Mb_estimate", mc.sigma_m,
        "min sigma_m(Dg(U)) over " + std::to_string(mc.accepted) + " sampled points of M_b: an UPPER bound on sigma_m(M_b)");
  v.add("sigma_min_Mb_estimate", mc.sigma_min,
        "min smallest-nonzero singular value over the same points: an UPPER bound on sigma_min(M_b)");
  {
    HypothesisStatus st;
    std::string detail;
    if (nat_in_Mb && m > range_dim) {
      st = HypothesisStatus::not_met;
      detail = "U♮ (U♮U♮^T = X♮, ||U♮||^2 = ||X♮|| <= xi^2) lies in M_b, and the range of Dg(U♮) has dimension d r - "
               "r(r-1)/2 = " + std::to_string(range_dim) + " < m = " + std::to_string(m) +
               ": sigma_m(Dg(U♮)) = 0 (computed: " + format_significant(licq_nat.sigma_m, 5) + "), so LICQ fails on M_b itself";
    } else if (mc.accepted > 0 && mc.sigma_m > 1e-10 * op_norm * std::sqrt(std::max(Xn.norm(), 1e-300))) {
      st = HypothesisStatus::unverified;
      detail = "sigma_m(Dg(U)) > 0 at all " + std::to_string(mc.accepted) + " sampled points of M_b (min " +
               format_significant(mc.sigma_m, 5) + "); an open neighbourhood of M_b cannot be checked";
    } else {
      st = HypothesisStatus::unverified;
      detail = mc.accepted > 0 ? "sigma_m(Dg(U)) ~ 0 at a sampled point of M_b (min " + format_significant(mc.sigma_m, 5) + ")"
                               : "no point of M_b could be sampled: " + mc.message;
    }
    v.hypotheses.insert(v.hypotheses.begin() + 2, {"Assumption 3.1(ii) LICQ near M_b", st, detail});
  }

  // ---- (v) capture radii ----
  const ManifoldDistanceBounds dist = manifold_distance_bounds(loss, U0, op_norm, xi);
  HypothesisStatus v_status;
  std::string v_detail;
  CaptureCheck cap;
  const bool have_constants = std::isfinite(mc.sigma_m) && std::isfinite(mc.sigma_min) && std::isfinite(alpha_est);
  if (have_constants) {
    CaptureRadiiInputs in{op_norm, alpha_est, mc.sigma_m, mc.sigma_min, xi};
    cap = check_capture(loss, Xn, U0, in, dist);
    v.add("radius_6a_estimate", cap.radii.a, "upper bound on the true radius of (6a)");
    v.add("radius_6b_estimate", cap.radii.b, "upper bound on the true radius of (6b)");
    v.add("radius_6c_estimate", cap.radii.c, "upper bound on the true radius of (6c)");
    v.add("lhs_6a", cap.training_residual, "||A(U0U0^T) - b||");
    v.add("lhs_6b", cap.test_error, "||U0U0^T - X♮||_F");
    v.add("lhs_6c_lower", cap.dist_lower, "lower bound on dist(U0, M_b)");
    v.add("lhs_6c_upper", cap.dist_upper, "upper bound on dist(U0, M_b) (Gauss-Newton projection)");
    if (!cap.norm_ok) {
      v_status = HypothesisStatus::not_met;
      v_detail = "||U0|| = " + format_significant(u0_norm, 5) + " > xi = " + format_significant(xi, 5);
    } else if (!cap.possibly_inside) {
      v_status = HypothesisStatus::not_met;
      v_detail = "U0 is outside all three radii, conclusively (each computed radius is an upper bound). " + cap.explanation;
    } else {
      v_status = HypothesisStatus::unverified;
      v_detail = "U0 is inside at least one ESTIMATED radius; the true radius may be smaller. " + cap.explanation;
    }
  } else {
    v_status = u0_norm <= xi ? HypothesisStatus::unverified : HypothesisStatus::not_met;
    v_detail = "the constants of M_b could not be estimated (" + mc.message + ")";
  }
  v.hypotheses.push_back({"Assumption 3.1(v) ||U0|| <= xi and (6a) or (6b) or (6c)", v_status, v_detail});

  // ---- tables ----
  EvidenceTable samples;
  samples.name = "manifold_samples";
  samples.caption = "Points of {A(UU^T) = b} from Gauss-Newton projections of the starts (U0, planted factor times "
                    "rotations, perturbations, mixtures, the run's limit last). accepted = converged and ||U|| <= xi.";
  samples.columns = {"accepted", "residual", "norm", "rank", "sigma_min", "sigma_m_Dg"};
  for (const auto& s : mc.samples)
    samples.rows.push_back({s.accepted ? 1.0 : 0.0, s.residual, s.norm, static_cast<double>(s.rank), s.sigma_min,
                            s.accepted ? s.sigma_m : std::nan("")});
  v.tables.push_back(samples);
  EvidenceTable run;
  run.name = "run";
  run.caption = "The run: training error ||A(UU^T) - b||^2, test error ||UU^T - X♮||_F^2 and rank at each observation.";
  run.columns = {"t", "training_error", "test_error", "rank"};
  const auto tcol = tr.column("t"), trc = tr.column("training_error"), tec = tr.column("test_error"),
             rc = tr.column("rank");
  for (std::size_t i = 0; i < tcol.size(); ++i) run.rows.push_back({tcol[i], trc[i], tec[i], rc[i]});
  v.tables.push_back(run);

  v.tolerances.push_back({"convergence", options.converged_tol,
                          "the run stops (and counts as converged) when ||A(UU^T) - b|| <= tol ||b||: well above the "
                          "integrator's relative accuracy " + format_significant(setup.options.rtol, 5) + " squared into the residual, "
                          "well below any O(1) misfit"});
  v.tolerances.push_back({"recovery", options.recovery_tol,
                          "'infinitesimally close' is read as ||UU^T - X♮||_F <= tol ||X♮||_F at convergence: three "
                          "orders below the O(1) relative test errors of the no-implicit-bias regime (Example 1.1, "
                          "Figs. 2-3) and far above the integration error"});
  v.tolerances.push_back({"non-recovery", options.failure_tol,
                          "relative test error >= this at convergence counts as not recovered; between the two "
                          "tolerances the check does not decide"});
  v.tolerances.push_back({"rank", options.rank_tol, "relative rank tolerance for U0 and the limit (see Lemma C.1)"});

  // ---- status ----
  bool any_not_met = false, all_met = true;
  std::string failing;
  for (const auto& h : v.hypotheses) {
    if (h.status == HypothesisStatus::not_met) {
      any_not_met = true;
      failing += (failing.empty() ? "" : "; ") + h.name;
    }
    all_met = all_met && h.status == HypothesisStatus::met;
  }
  const bool recovered = converged && rel_test_end <= options.recovery_tol;
  const bool not_recovered = converged && rel_test_end >= options.failure_tol;
  std::ostringstream obs;
  obs << "The run " << (converged ? "converged" : "did not converge") << " (t = " << format_significant(summary.last.t, 5)
      << ", ||A(UU^T) - b||/||b|| = " << format_significant(res_end / b_norm, 5) << ") to rank " << rank_end
      << " with relative test error " << format_significant(rel_test_end, 5) << ": X♮ was "
      << (recovered ? "recovered" : not_recovered ? "NOT recovered" : "neither clearly recovered nor missed") << ".";
  if (any_not_met) {
    v.status = VerdictStatus::inconclusive;
    v.summary = "Theorem 3.2 does not apply to this instance: " + failing +
                " fail(s) (see Hypotheses), so the theorem makes no prediction. " + obs.str();
  } else if (recovered) {
    v.status = VerdictStatus::holds;
    v.summary = "The conclusion of Theorem 3.2 is observed. " + obs.str() +
                (all_met ? "" : " Some hypotheses could only be estimated (see Hypotheses).");
  } else if (not_recovered && all_met) {
    v.status = VerdictStatus::violated;
    v.summary = "Every hypothesis is verified but the conclusion fails. " + obs.str();
    v.witnesses.push_back({"U0", U0, "the initialization"});
    v.witnesses.push_back({"U_end", U, "the end of the run"});
    v.witnesses.push_back({"X_planted", Xn, "X♮"});
  } else {
    v.status = VerdictStatus::inconclusive;
    v.summary = obs.str() + (not_recovered ? " The conclusion fails while some hypotheses are only estimated: not a "
                                             "certified counterexample."
                                           : " The conclusion could not be decided.");
  }
  if (v.status != VerdictStatus::violated) {
    v.witnesses.push_back({"U0", U0, "the initialization (to repeat the check)"});
    v.witnesses.push_back({"U_end", U, "the end of the run"});
  }

  v.setup = {{"check", "theorem_3_2"},
             {"d", d},
             {"p", p},
             {"m", m},
             {"operator", problem.op->name()},
             {"xi", xi},
             {"loss_constant", setup.c},
             {"stepper", to_string(setup.options.stepper)},
             {"rtol", setup.options.rtol},
             {"atol", setup.options.atol},
             {"t_end", setup.times.back()},
             {"observations", setup.times.size()},
             {"manifold_starts", options.manifold_starts},
             {"seed", options.seed},
             {"run", to_json(summary)},
             {"description", setup.description}};
  v.notes.push_back("Estimates and their sides: sigma_m(M_b), sigma_min(M_b) are minima over sampled points of M_b "
                    "(upper bounds); alpha is an upper bound unless 2 rank(U0) >= d; ||A|| is exact to the eigen "
                    "tolerance. Every radius (6a)-(6c) increases with sigma_m, sigma_min and alpha, so each computed "
                    "radius is an upper bound: 'outside' is conclusive, 'inside' is not.");
  v.notes.push_back("sigma_min(M_b) is the minimum of the smallest NONZERO singular value, which is not continuous: "
                    "if M_b contains factors of different ranks its infimum can be 0 (not attained), and the radii "
                    "are then 0.");
  v.notes.push_back("The proof applies alpha in (42) to U_tU_t^T - X♮, which is symmetric but indefinite; (iii) as "
                    "stated restricts to PSD X. The estimate here is over symmetric X (what the proof needs).");

  // ---- figure ----
  v.figure.title = "Theorem 3.2: the run and the capture radii";
  Panel p1;
  p1.title = "training and test error along the run";
  p1.x_label = "flow time t";
  p1.y_label = "relative error";
  p1.log_x = p1.log_y = true;
  Series str{"||A(UU^T) - b|| / ||b||", tcol, {}}, ste{"||UU^T - X♮||_F / ||X♮||_F", tcol, {}};
  for (double x : trc) str.y.push_back(std::sqrt(std::max(x, 0.0)) / b_norm);
  for (double x : tec) ste.y.push_back(std::sqrt(std::max(x, 0.0)) / Xn.norm());
  p1.series = {str, ste};
  p1.hlines.push_back({options.recovery_tol, "recovery tolerance"});
  v.figure.panels.push_back(std::move(p1));
  if (have_constants) {
    Panel p2;
    p2.title = "capture conditions: x = 1 (6a), 2 (6b), 3 (6c); radius estimates " + format_significant(cap.radii.a, 5) + ", " +
               format_significant(cap.radii.b, 5) + ", " + format_significant(cap.radii.c, 5);
    p2.x_label = "condition";
    p2.y_label = "value";
    p2.log_y = true;
    Series lhs{"left side at U0 ((6c): bracket)", {1, 2, 3, 3}, {cap.training_residual, cap.test_error, cap.dist_lower,
                                                                 cap.dist_upper}, false, true};
    Series rad{"radius estimate (upper bound; 0 not drawn)", {1, 2, 3}, {cap.radii.a, cap.radii.b, cap.radii.c}, false, true};
    p2.series = {lhs, rad};
    v.figure.panels.push_back(std::move(p2));
  }
  return v;
}

}  // namespace flowsense
