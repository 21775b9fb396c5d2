#pragma once
// Metrics that watch the theorems of the two papers along a run (usable by
// the Recorder like the stock metrics of observe/metrics.hpp). Column names
// are stable; plots, configs and the verdicts refer to them.
//
// Layering: these metrics use problem/loss/flow and the analysis kernels
// analysis/{licq, manifold_distance, procrustes, best_rank, symmetric_eigs}.hpp,
// which depend only on core/problem/loss (never on integrate, trajectory or
// anything right of observe), so there is no include cycle. Expensive
// precomputations (||A||, Z*_s, the truth's top parts) are done once by the
// caller and passed in.
//
// Every metric accepts both state kinds. For a Gram state X (the X flow (30))
// the metrics that need a factor use F = V_+ Lambda_+^{1/2} (eigen-factor of
// the PSD part of X, zero-padded to a given width): all quantities here are
// invariant under U -> U Q (Q orthogonal), so any factor with F F^T = X gives
// the same value (000 Remark A.2 for dist(U, M_b)).
//
// Two metrics compare consecutive observations (the energy identity and the
// singular-value law). They keep the previous row in mutable members, so:
// one instance per run, observations in increasing time (the Recorder does
// this); a time that does not increase starts a new run. Not thread-safe.
#include <optional>
#include <string>
#include <vector>

#include "flowsense/analysis/manifold_distance.hpp"
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/observe/metric.hpp"

namespace flowsense {

/// A factor F (d x width) with F F^T = X for a factor state, or the
/// eigen-factor of X for a Gram state (width 0 = the state's own width for
/// factors, d for Gram states).
Matrix observed_factor(Observation& o, Index width = 0);

/// "dist_Mb_lower", "dist_Mb_upper", "dist_Mb_proj_residual": bounds on
/// dist(U, M_b) (analysis/manifold_distance.hpp). The lower bound is cheap
/// (one residual, one SVD of U); the upper bound runs a Gauss-Newton
/// projection at every observation (+inf when it fails or leaves
/// ||V|| <= xi; NaN when with_upper is false). Its cost is about
/// (Gauss-Newton iterations + refinements) x m applications of K = Dg Dg*
/// when m <= projection.dense_limit: measured ~1 s per observation at
/// Example 1.1 sizes (d = 30, m = 240, p = d, a random start) on a loaded
/// 2-core machine; use with_upper = false on fine grids.
class ManifoldDistanceMetric : public Metric {
public:
  /// op_norm = ||A|| (analysis/operator_norm.hpp); width: see observed_factor.
  ManifoldDistanceMetric(double op_norm, std::optional<double> xi, bool with_upper = true,
                         ProjectionOptions projection = {}, Index width = 0);
  std::vector<std::string> columns() const override {
    return {"dist_Mb_lower", "dist_Mb_upper", "dist_Mb_proj_residual"};
  }
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  double op_norm_;
  std::optional<double> xi_;
  bool with_upper_;
  ProjectionOptions projection_;
  Index width_;
};

/// "sigma_m_Dg": sigma_m(Dg(U)), the LICQ margin of 000 Assumption 3.1(ii)
/// (analysis/licq.hpp; depends on X = UU^T only).
class LicqMetric : public Metric {
public:
  explicit LicqMetric(EigenOptions options = {}) : options_(options) {}
  std::vector<std::string> columns() const override { return {"sigma_m_Dg"}; }
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  EigenOptions options_;
};

/// For each given best rank-s factor U*_s (d x s, e.g. BestRankSolution::factor):
/// "procrustes_s<s>" = dist(U, U*_s) (003 Def. 5.1, zero-padded to the wider
/// width) and "zstar_gap_s<s>" = ||U U^T - Z*_s||_F (003 Theorem 4.1).
class BestRankDistanceMetric : public Metric {
public:
  explicit BestRankDistanceMetric(std::vector<Matrix> factors);
  std::vector<std::string> columns() const override;
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  std::vector<Matrix> factors_;
  std::vector<Matrix> grams_;
};

/// "E_1" .. "E_k": E_s(t) = ||UU^T - X_sX_s^T||_F^2 / ||X_sX_s^T||_F^2 of paper
/// 003 §6, where X_sX_s^T is the top-s eigen-part of the truth Z* (= X♮).
class RelativeErrorMetric : public Metric {
public:
  /// Throws std::invalid_argument if k < 1 or the truth's top-k part is zero.
  RelativeErrorMetric(const Matrix& truth, int k);
  std::vector<std::string> columns() const override;
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  std::vector<Matrix> parts_;
  std::vector<double> norms2_;
};

/// "x_eig_1" .. "x_eig_n": eigenvalues of X = U U^T, descending (0 past the
/// factor's width). For factor states computed as sigma_i(U)^2, which keeps
/// small eigenvalues accurate relative to sigma_1(U)^2 * eps^2 rather than
/// ||X|| * eps (the rank statements need that).
class GramSpectrumMetric : public Metric {
public:
  /// n = how many eigenvalues (usually d). Throws if n < 1.
  explicit GramSpectrumMetric(Index n);
  std::vector<std::string> columns() const override;
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  Index n_;
};

/// The energy identity dG/dt = -||grad G||^2 along the run (G = G_c).
/// Columns:
///   "G"                  G_c at this observation;
///   "grad_norm_sq"       q = ||grad G_c||^2 = 4c^2 <A*(r)^2, X>;
///   "grad_norm_sq_rate"  q' = dq/dt = -2 <grad G, H[grad G]>
///                          = -2 (c ||A(W)||^2 + 8c^3 <A*(r)^3, X>),  W = 2c (X A*(r) + A*(r) X),
///                        exact along the flow (one extra A per observation);
///   "energy_drop"        G(t_{k-1}) - G(t_k)  (NaN on the first row);
///   "energy_residual"    G(t_k) - G(t_{k-1}) + I_k, with I_k the Hermite
///                        (end-corrected trapezoid) quadrature of q over
///                        [t_{k-1}, t_k]: I_k = h/2 (q_{k-1} + q_k) - h^2/12 (q'_k - q'_{k-1}),
///                        exact for cubic q, error O(h^5 max|q''''|).
/// The identity holds for the exact flow (G' = <grad G, U'> = -q; for the X
/// flow G' = c <A*(r), X'> = -q as well). The residual therefore measures
/// integration error plus a quadrature error that shrinks like h^5 with the
/// observation spacing h; compare |energy_residual| with energy_drop. On an
/// Euler (= GD) run it measures how far the discrete iteration departs from
/// the identity of the flow (O(h_step) per unit time), not a bug.
class EnergyIdentityMetric : public Metric {
public:
  std::vector<std::string> columns() const override {
    return {"G", "grad_norm_sq", "grad_norm_sq_rate", "energy_drop", "energy_residual"};
  }
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  mutable bool has_previous_ = false;
  mutable double t_ = 0.0, G_ = 0.0, q_ = 0.0, dq_ = 0.0;
};

/// The singular-value law (36) of paper 000 for the eigenvalues s_i of X:
///   s_i' = -2 s_i v_i^T A*(g) v_i  (c = 1/4, g = r/2), in general
///   d/dt log s_i = -4c v_i^T A*(r) v_i.
/// Columns for i = 1..k:
///   "sv_rate_<i>"        the predicted rate d log s_i / dt at this observation;
///   "sv_law_residual_<i>"  log s_i(t_k) - log s_i(t_{k-1}) - h/2 (rate_{k-1} + rate_k)
///                        (trapezoid, error O(h^3)), NaN on the first row.
/// Both are NaN when s_i <= floor * s_1 (a zero eigenvalue: the law says it
/// stays zero; its log-rate is not observable), and when consecutive
/// eigenvalues cross, the sorted labels swap and the residual spikes there.
class SingularValueLawMetric : public Metric {
public:
  /// Throws if k < 1 or floor is not in (0, 1).
  explicit SingularValueLawMetric(int k, double floor = 1e-12);
  std::vector<std::string> columns() const override;
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  int k_;
  double floor_;
  mutable bool has_previous_ = false;
  mutable double t_ = 0.0;
  mutable std::vector<double> log_s_, rate_;
};

/// "gram_gap": ||X_ref(t) - X(t)||_F against reference Gram matrices recorded
/// by another run at the same observation times (e.g. the snapshots of an X
/// flow run, SnapshotKind::gram, checked against a factor run, or the other
/// way round). NaN at a time with no reference (matched to a relative 1e-9).
///
/// Why a post-hoc reference rather than a companion X flow integrated inside
/// the metric: a metric stays a pure function of the observation, so it
/// needs no integrator of its own (theory metrics use only problem/loss/flow
/// and analysis kernels), adds no hidden right-hand-side evaluations or wall
/// time to the run it watches, and each run keeps its own stepper and
/// tolerance; the gap then measures the two runs' combined integration error,
/// which is what checking "X(t) = U(t)U(t)^T" means.
class GramGapMetric : public Metric {
public:
  /// times strictly increasing, one d x d matrix per time.
  GramGapMetric(std::vector<double> times, std::vector<Matrix> grams);
  std::vector<std::string> columns() const override { return {"gram_gap"}; }
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  std::vector<double> times_;
  std::vector<Matrix> grams_;
};

}  // namespace flowsense
