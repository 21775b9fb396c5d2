// Lemma C.1 of paper 000 along a run, and the RunSetup shared by the trajectory verdicts.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/trajectory/manifest.hpp"
#include "flowsense/trajectory/recorder.hpp"
#include "flowsense/verdict/trajectory_checks.hpp"

namespace flowsense {

std::string RunSetup::validate() const {
  std::ostringstream s;
  if (!problem.op) return "problem.op: no sensing operator";
  const Index d = problem.dim();
  if (!(c > 0) || !std::isfinite(c)) {
    s << "c: expected a finite loss constant > 0, got " << c;
  } else if (U0.rows() != d || U0.cols() < 1) {
    s << "U0: expected " << d << " rows and at least one column, got " << U0.rows() << " x " << U0.cols();
  } else if (!U0.allFinite()) {
    s << "U0: has non-finite entries";
  } else if (auto e = options.validate(); !e.empty()) {
    s << "options: " << e;
  } else if (times.size() < 2) {
    s << "times: expected at least 2 observation times, got " << times.size();
  } else {
    for (std::size_t i = 1; i < times.size(); ++i)
      if (!(times[i] > times[i - 1])) {
        s << "times: expected strictly increasing times, got times[" << i - 1 << "] = " << times[i - 1]
          << " and times[" << i << "] = " << times[i];
        break;
      }
  }
  return s.str();
}

std::string LemmaC1Options::validate() const {
  if (!(rank_tol > 0 && rank_tol < 1)) return "rank_tol: expected 0 < rank_tol < 1, got " + std::to_string(rank_tol);
  return {};
}

namespace {

/// "row_space_leak": ||U(t) P_perp||_F / ||U(t)||_F, P_perp the projector onto the
/// orthogonal complement of the row space of U0. U(t) = Phi(t) U0 keeps it exactly 0;
/// what is observed is rounding carried along by the flow.
class RowSpaceLeakMetric : public Metric {
public:
  RowSpaceLeakMetric(const Matrix& U0, double rank_tol) {
    Eigen::JacobiSVD<Matrix> svd(U0, Eigen::ComputeFullV);
    const Index r = numerical_rank(svd.singularValues(), rank_tol);
    const Matrix R = svd.matrixV().leftCols(r);
    perp_ = Matrix::Identity(U0.cols(), U0.cols()) - R * R.transpose();
  }
  std::vector<std::string> columns() const override { return {"row_space_leak"}; }
  void measure(Observation& o, std::vector<double>& row) const override {
    const Matrix& U = o.state();
    const double n = U.norm();
    row.push_back(n > 0 ? (U * perp_).norm() / n : 0.0);
  }

private:
  Matrix perp_;
};

}  // namespace

Verdict lemma_c1_verdict(const Trajectory& tr, const Matrix& U0, const LemmaC1Options& options,
                         nlohmann::json setup) {
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("lemma_c1_verdict(): " + e);
  const Index k = std::min(U0.rows(), U0.cols());
  for (Index i = 1; i <= k; ++i)
    if (!tr.has_column("sigma_" + std::to_string(i)))
      throw std::invalid_argument("lemma_c1_verdict(): the trajectory needs the columns sigma_1..sigma_" +
                                  std::to_string(k) + "; sigma_" + std::to_string(i) + " is missing");
  if (!tr.has_column("t")) throw std::invalid_argument("lemma_c1_verdict(): the trajectory needs a column 't'");

  Verdict v;
  v.claim.name = "Lemma C.1 (paper 000)";
  v.claim.statement = "For an initialization U0 in R^{d x p}, the (flow) U'(t) = -grad G(U(t)) = -(1/2) A^*(A(U(t)U(t)^T) - b) "
                      "U(t), U(0) = U0, satisfies rank(U(t)) <= rank(U0) for all t >= 0 (23).";
  v.claim.source = "Eftekhari & Zygalakis, Appendix C, Lemma C.1, eq. (23); proof in Appendix D, eqs. (27)-(37)";
  v.setup = std::move(setup);
  v.setup["rank_tol"] = options.rank_tol;

  const Vector s0 = Eigen::JacobiSVD<Matrix>(U0).singularValues();
  const Index r0 = numerical_rank(s0, options.rank_tol);
  const std::vector<double> t = tr.column("t");
  std::vector<std::vector<double>> sig(static_cast<std::size_t>(k));
  for (Index i = 0; i < k; ++i) sig[static_cast<std::size_t>(i)] = tr.column("sigma_" + std::to_string(i + 1));
  const bool leak = tr.has_column("row_space_leak");
  const std::vector<double> leak_col = leak ? tr.column("row_space_leak") : std::vector<double>{};

  Index max_rank = 0;
  std::ptrdiff_t first_violation = -1;
  double max_ratio = 0.0;  // max_t sigma_{r0+1}(t) / sigma_1(t)
  EvidenceTable table;
  table.name = "spectrum";
  table.caption = "At each observation: the numerical rank of U(t) at the tolerance, sigma_{r0+1}/sigma_1 (the "
                  "margin to the tolerance; r0 = rank(U0)) and the leading singular values up to sigma_{r0+2}.";
  // The table shows the leading singular values up to rank(U0) + 2 (the first ones that must
  // stay zero); the ratio column covers the rest.
  const Index shown_sv = std::min<Index>(k, r0 + 2);
  table.columns = {"t", "rank", "sigma_r0+1/sigma_1"};
  for (Index i = 0; i < shown_sv; ++i) table.columns.push_back("sigma_" + std::to_string(i + 1));
  if (leak) table.columns.push_back("row_space_leak");
  for (std::size_t row = 0; row < t.size(); ++row) {
    Vector s(k);
    for (Index i = 0; i < k; ++i) s[i] = sig[static_cast<std::size_t>(i)][row];
    const Index rank = numerical_rank(s, options.rank_tol);
    max_rank = std::max(max_rank, rank);
    if (rank > r0 && first_violation < 0) first_violation = static_cast<std::ptrdiff_t>(row);
    const double ratio = (r0 < k && s[0] > 0) ? s[r0] / s[0] : 0.0;
    max_ratio = std::max(max_ratio, ratio);
    std::vector<double> r = {t[row], static_cast<double>(rank), ratio};
    for (Index i = 0; i < shown_sv; ++i) r.push_back(s[i]);
    if (leak) r.push_back(leak_col[row]);
    table.rows.push_back(std::move(r));
  }

  v.add("rank_U0", static_cast<double>(r0), "numerical rank of U0 at the tolerance");
  v.add("width_min_d_p", static_cast<double>(k), "min(d, p): the largest possible rank");
  v.add("max_rank_along_run", static_cast<double>(max_rank), "over " + std::to_string(t.size()) + " observations");
  v.add("max_sigma_r0plus1_over_sigma_1", max_ratio,
        "largest sigma_{rank(U0)+1}(U(t))/sigma_1(U(t)); the rank grows only if this exceeds the tolerance");
  if (leak) {
    double m = 0;
    for (double x : leak_col) m = std::max(m, x);
    v.add("max_row_space_leak", m,
          "max ||U(t) P_perp||_F/||U(t)||_F, P_perp onto the complement of the row space of U0 (exactly 0 in exact "
          "arithmetic since U(t) = Phi(t) U0)");
  }
  v.add("observations", static_cast<double>(t.size()), "rows of the trajectory");
  if (!t.empty()) v.add("t_end", t.back(), "last observation time");
  v.add("run_ok", tr.summary.ok() ? 1.0 : 0.0, "1 if the run completed or met its target: " + to_string(tr.summary.termination));
  v.tolerances.push_back(
      {"relative rank tolerance", options.rank_tol,
       "rank = #{sigma_i > tol * sigma_1}. The singular values that Lemma C.1 says stay zero are exactly 0 in "
       "exact arithmetic; in floating point they start at the SVD's backward error (~1e-16 sigma_1) and the flow "
       "U(t) = Phi(t) U0 carries rounding with the same linear map as the signal. The tolerance leaves 8 orders "
       "of magnitude above that floor, and the evidence reports the observed margin "
       "(max_sigma_r0plus1_over_sigma_1)."});
  v.tables.push_back(std::move(table));

  if (!tr.summary.ok())
    v.notes.push_back("The run ended with '" + to_string(tr.summary.termination) + "': " + tr.summary.message +
                      ". The verdict covers the recorded part of the run.");
  if (r0 == k)
    v.notes.push_back("rank(U0) = min(d, p): the claim cannot fail for this start (the rank cannot exceed the "
                      "width); the run is a control.");

  if (t.empty()) {
    v.status = VerdictStatus::inconclusive;
    v.summary = "The run recorded no observation, so there is nothing to check.";
  } else if (first_violation >= 0) {
    const auto row = static_cast<std::size_t>(first_violation);
    // Is the growth explained by the computed U(t) leaving the row space of U0? The exact
    // flow keeps U(t) = Phi(t) U0, so the leak U P_perp is numerical error (rounding,
    // amplified e.g. near a saddle); and U = U P + U P_perp with rank(U P) <= r0 gives
    // sigma_{r0+1}(U) <= ||U P_perp||_2 <= leak ||U||_F (Weyl). When that bound covers every
    // observation where the rank exceeds r0, the computed trajectory is not the flow
    // there and says nothing about the lemma.
    bool explained = leak;
    double worst_share = 0.0;  // max sigma_{r0+1} / (leak ||U||_F) over the rows where the rank grew
    if (leak)
      for (std::size_t i = row; i < t.size(); ++i) {
        if (v.tables[0].rows[i][1] <= static_cast<double>(r0)) continue;
        double fro2 = 0.0;
        for (Index j = 0; j < k; ++j) fro2 += sig[static_cast<std::size_t>(j)][i] * sig[static_cast<std::size_t>(j)][i];
        const double bound = leak_col[i] * std::sqrt(fro2);
        const double excess = sig[static_cast<std::size_t>(r0)][i];
        worst_share = std::max(worst_share, bound > 0 ? excess / bound : std::numeric_limits<double>::infinity());
        if (!(excess <= bound * (1 + 1e-6))) explained = false;
      }
    if (explained) {
      v.status = VerdictStatus::inconclusive;
      v.summary = "The computed rank grew: rank(U(t)) = " + format_significant(v.tables[0].rows[row][1]) + " > rank(U0) = " +
                  std::to_string(r0) + " at t = " + format_significant(t[row]) + " (first time; sigma_{r0+1}/sigma_1 = " +
                  format_significant(v.tables[0].rows[row][2]) + " > tolerance " + format_significant(options.rank_tol) +
                  "), but only because the computed U(t) left the row space of U0, which the exact flow never "
                  "does (U(t) = Phi(t) U0): at every such observation sigma_{r0+1}(U) <= ||U P_perp||_F (largest "
                  "ratio " + format_significant(worst_share) + "). The growth is numerical error (rounding amplified along the run, "
                  "e.g. near a saddle), not the flow, so it says nothing about the lemma. The exact reduced flow "
                  "(flow.reduced = auto in a run config) keeps the row space by construction.";
      v.add("max_rank_excess_over_leak_bound", worst_share,
            "max sigma_{r0+1}(U) / (||U P_perp||_F) where the rank grew; <= 1: explained by the row-space leak");
      v.notes.push_back("A computed trajectory can show Lemma C.1 failing only through numerical error: rank(U(t)) "
                        "> rank(U0) needs U(t) to leave the row space of U0, and the flow U' = -A^*(g)U keeps it. "
                        "The verdict is therefore inconclusive, never violated, when the leak explains the growth.");
    } else {
      v.status = VerdictStatus::violated;
      v.summary = "The rank grew: rank(U(t)) = " + format_significant(v.tables[0].rows[row][1]) +
                  " > rank(U0) = " + std::to_string(r0) + " at t = " + format_significant(t[row]) + " (first time), with "
                  "sigma_{r0+1}/sigma_1 = " + format_significant(v.tables[0].rows[row][2]) + " above the tolerance " +
                  format_significant(options.rank_tol) + ".";
    }
    v.add("witness_time", t[row], "first observation where the rank exceeds rank(U0)");
    v.witnesses.push_back({"U0", U0, "the initialization"});
    for (const auto& snap : tr.snapshots)
      if (std::fabs(snap.t - t[row]) <= 1e-12 * std::max(1.0, std::fabs(t[row]))) {
        v.witnesses.push_back({"U_t", snap.value, "U(t) at the witness time t = " + format_significant(t[row])});
        break;
      }
    if (v.witnesses.size() == 1) v.notes.push_back("The run kept no snapshot at the witness time: only U0 is saved.");
  } else {
    v.status = VerdictStatus::holds;
    v.summary = "rank(U(t)) <= rank(U0) = " + std::to_string(r0) + " at all " + std::to_string(t.size()) +
                " observations up to t = " + format_significant(t.back()) + " (tolerance " + format_significant(options.rank_tol) +
                " relative to sigma_1). The largest sigma_{r0+1}/sigma_1 seen is " + format_significant(max_ratio) + ", " +
                (max_ratio > 0 ? format_significant(options.rank_tol / max_ratio) + " times below the tolerance."
                               : "exactly zero.");
    if (r0 == k) v.summary += " (rank(U0) = min(d, p): a control run, the claim cannot fail here.)";
  }

  // Figure: the normalized spectrum over time.
  v.figure.title = "Lemma C.1: singular values of U(t)";
  Panel p;
  p.title = "sigma_i(U(t)) / sigma_1(U(t)); rank(U0) = " + std::to_string(r0);
  p.x_label = "flow time t";
  p.y_label = "sigma_i / sigma_1";
  p.log_y = true;
  double tpos = std::numeric_limits<double>::infinity();
  for (double x : t)
    if (x > 0) tpos = std::min(tpos, x);
  p.log_x = !t.empty() && std::isfinite(tpos) && t.back() / tpos > 1e2;
  const Index shown = std::min<Index>(k, std::max<Index>(r0 + 3, 6));
  for (Index i = 0; i < shown; ++i) {
    Series s;
    s.label = "i = " + std::to_string(i + 1);
    s.dashed = i >= r0;
    for (std::size_t row = 0; row < t.size(); ++row) {
      const double top = sig[0][row];
      s.x.push_back(t[row]);
      s.y.push_back(top > 0 ? sig[static_cast<std::size_t>(i)][row] / top : std::nan(""));
    }
    p.series.push_back(std::move(s));
  }
  p.hlines.push_back({options.rank_tol, "rank tolerance"});
  if (first_violation >= 0) p.vlines.push_back({t[static_cast<std::size_t>(first_violation)], "rank grows"});
  v.figure.panels.push_back(std::move(p));
  return v;
}

Verdict check_lemma_c1(const RunSetup& setup, const LemmaC1Options& options) {
  if (auto e = setup.validate(); !e.empty()) throw std::invalid_argument("check_lemma_c1(): " + e);
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("check_lemma_c1(): " + e);
  SensingLoss loss(setup.problem, setup.c);
  FactorFlow flow(loss);
  const Index k = std::min(setup.U0.rows(), setup.U0.cols());
  std::vector<std::shared_ptr<Metric>> metrics = {std::make_shared<TimeMetric>(),
                                                  std::make_shared<TrainingErrorMetric>(),
                                                  std::make_shared<SingularValuesMetric>(static_cast<int>(k)),
                                                  std::make_shared<RowSpaceLeakMetric>(setup.U0, options.rank_tol)};
  Recorder recorder(loss, StateKind::factor, metrics);
  // Keep only the snapshot a violation needs (the first U(t) whose rank exceeds rank(U0)),
  // not one per observation: the columns after "t", "training_error" are sigma_1..sigma_k.
  const Index r0 = numerical_rank(Eigen::JacobiSVD<Matrix>(setup.U0).singularValues(), options.rank_tol);
  std::optional<Snapshot> witness;
  Matrix U = setup.U0;
  Watch watch;
  watch.observe = [&](const Matrix& state, const StepInfo& info) {
    recorder.record(state, info);
    if (witness) return;
    const auto& row = recorder.trajectory().rows.back();
    const Vector s = Eigen::Map<const Vector>(row.data() + 2, k);
    if (numerical_rank(s, options.rank_tol) > r0) witness = Snapshot{info.t, state};
  };
  watch.stop_rules = setup.stop_rules;
  const Summary summary = integrate(flow, U, setup.times, setup.options, watch);
  recorder.finish(summary);
  Trajectory trajectory = recorder.take();
  if (witness) trajectory.snapshots.push_back(*witness);
  nlohmann::json js = {{"check", "lemma_c1"},
                       {"d", setup.problem.dim()},
                       {"p", setup.U0.cols()},
                       {"m", setup.problem.measurements()},
                       {"operator", setup.problem.op->name()},
                       {"loss_constant", setup.c},
                       {"stepper", to_string(setup.options.stepper)},
                       {"rtol", setup.options.rtol},
                       {"atol", setup.options.atol},
                       {"step", setup.options.step},
                       {"t_end", setup.times.back()},
                       {"observations", setup.times.size()},
                       {"run", to_json(summary)},
                       {"description", setup.description}};
  Verdict v = lemma_c1_verdict(trajectory, setup.U0, options, std::move(js));
  const auto tr_err = trajectory.column("training_error");
  if (!tr_err.empty()) {
    v.add("training_error_start", tr_err.front(), "||A(U0U0^T) - b||^2");
    v.add("training_error_end", tr_err.back(), "at the last observation");
  }
  return v;
}

}  // namespace flowsense
