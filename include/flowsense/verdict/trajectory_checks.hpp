#pragma once
// Trajectory verdicts: run the flow with the library (Problem -> SensingLoss -> FactorFlow
// -> integrate -> Recorder) and turn what it does into a verdict on a theorem.
//
//   RunSetup run{problem, loss_constant::paper000, U0, options, log_times(1e-3, 1e3, 200)};
//   Verdict v = check_lemma_c1(run);
//   write_verdict(v, "out/lemma_c1");
//
// The claims, exactly as stated:
//
// * Lemma C.1 (paper 000, App. C, eq. (23); proof in App. D, (27)-(37)). For an
//   initialization U0 in R^{d x p}, the (flow) U' = -grad G(U) = -(1/2) A^*(A(UU^T) - b) U
//   satisfies rank(U(t)) <= rank(U0) for all t >= 0.
//   (The proof: X = UU^T obeys (30), its analytic SVD gives (36) s_i' = -2 s_i v_i^T A^*(g) v_i,
//   so a zero singular value stays zero.) The loss constant c only rescales time, so the
//   check accepts any c > 0.
//
// * Theorem 3.2 (paper 000, Sec. 3). Under (model) 0 <= X♮ < xi^2 I, (sense) b = A(X♮), and
//   Assumption 3.1 -- (i) m/d <= rank(X♮) <= p; (ii) {A_i U} span an m-dimensional space for
//   every U in an open neighbourhood of M_b = {U : A(UU^T) = b, ||U|| <= xi}; (iii) A(X) = 0
//   => X = 0 for PSD X with rank(X) <= 2 rank(U0), with isometry constant
//   alpha = min{||A(X)|| : ||X||_F = 1, rank(X) <= 2 rank(U0)}; (iv) rank(U0) >= effrank(X♮);
//   (v) ||U0|| <= xi and any of
//     (6a) ||A(U0U0^T) - b|| < sigma_m(M_b) sigma_min(M_b) alpha / (4||A||),
//     (6b) ||U0U0^T - X♮||_F < sigma_m(M_b) sigma_min(M_b) alpha / (4||A||^2),
//     (6c) dist(U0, M_b) < sigma_m(M_b)/(4||A||) min(1, sigma_min(M_b) alpha/(4 xi ||A||)),
//   with sigma_m(M_b) = min_{U in M_b} sigma_m(Dg(U)), sigma_min(M_b) = min_{U in M_b} of the
//   smallest nonzero singular value of U --
//   the (flow) converges to a limit point U_ with U_U_^T infinitesimally close to X♮.
//
// * Theorem 4.1 (paper 003, Sec. 4), checked for the gradient flow (the mu -> 0 limit of its
//   GD (3); the flow time t is GD iteration t/mu). Under Assumption 3.1 (A is
//   (2r*+1, delta)-RIP with delta <= 1e-7 kappa^-4 / r*) and Assumption 3.2
//   (sigma_min(V_{X_s}^T Ubar) >= rho > 0 for 1 <= s <= r ∧ r*), GD with mu <= 1/(10^3 ||Z*||)
//   from U_{alpha,0} = alpha Ubar (||Ubar|| = 1): there are universal c, M > 0, a C = C(r, kappa)
//   and times T^1_alpha < T^2_alpha < ... < T^{r ∧ r*}_alpha such that, when
//   alpha = O((rho r*)^{-c kappa}), ||U_{alpha,T^s} U_{alpha,T^s}^T - Z*_s||_F <= C alpha^{1/(M kappa^2)}
//   for every s, and lim_{alpha -> 0} max_{1 <= t <= T^s_alpha} sigma_{s+1}(U_{alpha,t}) = 0.
//   The statement is asymptotic in alpha with unspecified constants, so a finite run can
//   only be consistent with it or not (status holds / inconclusive, never violated).
#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/isometry.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/trajectory/trajectory.hpp"
#include "flowsense/verdict/verdict.hpp"

namespace flowsense {

/// Everything a run needs, as plain library objects.
struct RunSetup {
  Problem problem;
  double c = 0.25;               ///< loss constant of G_c (0.25: paper 000, 0.5: paper 003)
  Matrix U0;                     ///< d x p initialization
  IntegrateOptions options;
  std::vector<double> times;     ///< observation times, increasing, times[0] = 0
  std::vector<std::shared_ptr<StopRule>> stop_rules;  ///< optional extra stop rules
  nlohmann::json description = nlohmann::json::object();  ///< how problem and U0 were made (seeds)

  /// Empty if valid, else a message naming the field, the value and what is allowed.
  std::string validate() const;
};

// --------------------------------------------------------------------------------------
// Lemma C.1

struct LemmaC1Options {
  /// Relative rank tolerance: rank = #{i : sigma_i(U) > rank_tol * sigma_1(U)}. In exact
  /// arithmetic the extra singular values are exactly 0; in floating point they start at
  /// ~1e-16 sigma_1 (the SVD's backward error) and are carried by the same linear flow
  /// U(t) = Phi(t) U0 as the signal, so 1e-8 leaves 8 orders of margin. Must be in (0, 1).
  double rank_tol = 1e-8;
  std::string validate() const;
};

/// Runs the flow from setup.U0 and checks rank(U(t)) <= rank(U0) at every observation.
Verdict check_lemma_c1(const RunSetup& setup, const LemmaC1Options& options = {});

/// The analysis alone, on a recorded run: `trajectory` must have a column "t" and the
/// singular values "sigma_1".."sigma_k" (k = min(d, p)); factor snapshots, if present,
/// provide the witness U(t) of a violation. U0 is the start the run was made from.
Verdict lemma_c1_verdict(const Trajectory& trajectory, const Matrix& U0, const LemmaC1Options& options,
                         nlohmann::json setup = nlohmann::json::object());

// --------------------------------------------------------------------------------------
// Theorem 3.2

struct Theorem32Options {
  double rank_tol = 1e-8;        ///< relative rank tolerance for U0 and the limit (see LemmaC1Options)
  /// effrank(X♮) (Def. 2.1): the number of eigenvalues above effrank_tol * lambda_1(X♮), i.e.
  /// the rank of the best approximation within a relative Frobenius error of about effrank_tol.
  double effrank_tol = 1e-6;
  /// The run has converged when ||A(UU^T) - b|| <= converged_tol * ||b|| (a stop rule).
  double converged_tol = 1e-7;
  /// Recovered when ||UU^T - X♮||_F <= recovery_tol ||X♮||_F at the end; not recovered when
  /// >= failure_tol ||X♮||_F. In between: undecided. See the doc page for the reasons.
  double recovery_tol = 1e-3;
  double failure_tol = 1e-2;
  int manifold_starts = 16;      ///< starts for sampling sigma_m(M_b), sigma_min(M_b) (>= 1)
  IsometryOptions isometry;      ///< alpha on rank <= 2 rank(U0)
  std::uint64_t seed = 0;        ///< for the samplings above
  std::string validate() const;
};

/// Runs the flow from setup.U0 (setup.problem.xi must be set) and reports the quantities of
/// Assumption 3.1 at U0, whether U0 is inside the capture radii (6a)-(6c), and the limit.
Verdict check_theorem_3_2(const RunSetup& setup, const Theorem32Options& options = {});

// --------------------------------------------------------------------------------------
// Theorem 4.1 of paper 003

struct Theorem41Setup {
  Problem problem;               ///< planted = Z*; 003 uses A scaled by 1/sqrt(m)
  Matrix direction;              ///< Ubar (d x r); normalized to ||Ubar|| = 1 here
  std::vector<double> alphas;    ///< initialization scales (> 0), e.g. {1e-2, 1e-4, 1e-6}
  IntegrateOptions options;
  double t_end = 0.0;            ///< last observation time (> 0)
  int observations = 400;        ///< log-spaced observation times in [t_end 1e-4, t_end] plus 0
  double learning_rate = 0.0;    ///< optional GD mu, to also report iterations t / mu
  nlohmann::json description = nlohmann::json::object();
  std::string validate() const;
};

struct Theorem41Options {
  int s_max = 0;                 ///< largest s checked; 0 = r ∧ rank(Z*)
  double rank_tol = 1e-10;       ///< relative tolerance for rank(Z*)
  BestRankOptions best_rank;     ///< Z*_s when the operator is not full observation
  IsometryOptions isometry;      ///< lower bound on the RIP delta (rank <= 2r*+1)
  std::string validate() const;
};

/// Runs the flow from alpha Ubar for every alpha; reports T_s, ordering, how close each
/// Z*_s is approached and max sigma_{s+1}(U_t) before T_s, and how these change with alpha.
Verdict check_theorem_4_1(const Theorem41Setup& setup, const Theorem41Options& options = {});

}  // namespace flowsense
