#pragma once
// Inequality probes: each stated inequality of the papers that can be evaluated on
// matrices is handed to the adversarial search of verdict/search.hpp, which tries to
// make it fail. The verdict reports the smallest relative slack found, where, how many
// points were tried, and for a violation the witness matrices (.npy).
//
// Every probe takes `constant_factor`, which makes the claim that many times STRONGER
// (a lower bound is multiplied by it, an upper bound divided by it); 1 is the paper's
// statement. A factor such as 10 plants a deliberately false variant: the tests use it
// to prove that each search can find a violation when there is one.
//
// The claims, exactly as the papers state them (notation: ||.|| spectral norm,
// ||.||_F Frobenius, ||.||_* nuclear, O_p the p x p orthogonal group, sigma_min the
// smallest NONZERO singular value):
//
// * Lemma F.2 (paper 000, App. F, eq. (54), quoting Li, Zhu & Tang 2019, Lemma 3;
//   proof in App. G). For matrices U, V in R^{d x p},
//     ||UU^T - VV^T||_F >= max(sigma_min(U), sigma_min(V)) * dist(U, V O_p),
//   dist(U, V O_p) = min_{R in O_p} ||U - VR||_F = sqrt(||U||_F^2 + ||V||_F^2 - 2||U^T V||_*)  (53).
//   No further hypotheses.
//
// * Lemma E.1 (paper 000, App. E, eqs. (43)-(44)). For matrices U, V in R^{d x p},
//     ||UU^T - VV^T||_F >= max(sigma_min(U), sigma_min(M_V)) * dist(U, M_V),
//   M_V = {V' : A(V'V'^T) = A(VV^T), ||V'|| <= xi},  sigma_min(M_V) = min_{V' in M_V} sigma_min(V'),
//   dist(U, M_V) = min_{V' in M_V} ||U - V'||_F (14), A the operator of (sense) (symmetric A_i),
//   xi > 0 from (model). (The lemma needs V in M_V, i.e. ||V|| <= xi.)
//
// * The PL inequality (12) (paper 000, App. A). If the compact set M_b satisfies
//   Assumption 3.1(ii), there is mu > 0 with
//     (1/2)||grad G(U)||_F^2 = (1/2)||Dg(U)^*[g(U)]||_F^2 >= (mu/2)||g(U)||_2^2 = mu G(U)
//   for every U in an open neighbourhood of M_b, where g(U) = (A(UU^T) - b)/2,
//   G(U) = (1/8)||A(UU^T) - b||^2, Dg(U)[Delta] = A(Delta U^T) (10), Dg(U)^*[delta] = A^*(delta) U (11).
//
// * Lemma 5.1 (paper 003, Sec. 5; proved as Lemma E.5 and in Prop. F.1). Under
//   Assumption 3.1 of paper 003 -- A satisfies the (2r*+1, delta)-RIP,
//   (1-delta)||Z||_F^2 <= ||A(Z)||^2 <= (1+delta)||Z||_F^2 for rank(Z) <= 2r*+1, with
//   delta <= 1e-7 kappa^-4 / r* --
//     dist(U*_s, X_s) <= 40 delta kappa ||X||_F   for any global minimizer U*_s of
//       f_s(U) = (1/4)||A(Z* - UU^T)||^2, U in R^{d x s}, and
//     ||Z*_s - X_s X_s^T||_F <= 80 delta kappa sqrt(r*) ||X||^2,
//   where Z* = XX^T, X = [v_1 .. v_r*] has orthogonal columns with singular values
//   sigma_1 > ... > sigma_r* > 0, X_s its first s columns, sigma_{r*+1} = 0,
//   kappa = sigma_1^2 / min_{1<=s<=r*} (sigma_s^2 - sigma_{s+1}^2), Z*_s = U*_s U*_s^T
//   (Definition 1.1), dist as in Definition 5.1, [A(Z)]_i = <A_i, Z>/sqrt(m).
#include <cstdint>

#include "flowsense/verdict/search.hpp"
#include "flowsense/verdict/verdict.hpp"

namespace flowsense {

struct ProbeOptions {
  SearchOptions search;         ///< seed, budgets and the relative-slack tolerance
  double constant_factor = 1.0; ///< > 0; 1 = the paper's claim, > 1 = a stronger (planted) claim
  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

/// Which combination of the two smallest singular values the Procrustes bound uses.
enum class SigmaCombination {
  max_as_stated,   ///< max(sigma_min(U), sigma_min(V)), as Lemmas F.2 and E.1 state
  min_corrected,   ///< min(sigma_min(U), sigma_min(V)): what the proof in App. G supports
};

/// One case of the Procrustes probes: U, V in R^{d x p} of ranks rank_u, rank_v.
struct ProcrustesShape {
  Index d, p, rank_u, rank_v;
};
/// The default shapes: rank-deficient (p < d or rank < p) and full-rank square cases.
std::vector<ProcrustesShape> default_procrustes_shapes();

/// Lemma F.2 of paper 000 (statement above).
Verdict probe_lemma_f2(const ProbeOptions& options,
                       SigmaCombination combination = SigmaCombination::max_as_stated,
                       const std::vector<ProcrustesShape>& shapes = default_procrustes_shapes());

/// Lemma E.1 of paper 000 (statement above), on injective operators: a Gaussian A with
/// m = d(d+1)/2 measurements whose packed matrix has full column rank (checked: condition
/// number <= 1e8). Then A(V'V'^T) = A(VV^T) iff V'V'^T = VV^T iff V' = VR, R in O_p, so with
/// xi = max(||U||, ||V||) the set M_V is exactly V O_p, sigma_min(M_V) = sigma_min(V) and
/// dist(U, M_V) = dist(U, V O_p): both sides are computed exactly. (For a non-injective A,
/// dist(U, M_V) has no computable lower bound that could certify a violation.)
Verdict probe_lemma_e1(const ProbeOptions& options,
                       SigmaCombination combination = SigmaCombination::max_as_stated,
                       const std::vector<ProcrustesShape>& shapes = default_procrustes_shapes());

/// One case of the PL probe: a Gaussian operator (unit scale, paper 000) with m
/// measurements on d x d matrices, a planted PSD matrix of rank r, and factors U in R^{d x p}.
struct PlShape {
  Index d, p, m, r;
};
std::vector<PlShape> default_pl_shapes();

/// The PL inequality (12) of paper 000, in the pointwise form with the constant of its
/// chain-rule step, mu(U) = sigma_m(Dg(U))^2 (the m-th largest singular value of the
/// m x dp Jacobian; admissible points have m <= dp and sigma_m(Dg(U)) > 0, i.e. LICQ at U):
///   (1/2)||grad G(U)||_F^2 >= sigma_m(Dg(U))^2 G(U).
/// By Proposition A.3, sigma_m(Dg(U)) >= sigma_m(M_b)/2 whenever dist(U, M_b) <= rho_0,
/// so the pointwise form implies (12) on that neighbourhood with mu = sigma_m(M_b)^2/4.
/// Points are sampled near M_b (planted factor plus noise of every scale) and far from it.
Verdict probe_pl_inequality(const ProbeOptions& options,
                            const std::vector<PlShape>& shapes = default_pl_shapes());

/// One case of the Lemma 5.1 probe: d x d matrices, rank r* truth, rank-s factor.
struct Lemma51Shape {
  Index d, r_star, s;
};
/// d = 2r*+1, so that the RIP on rank <= 2r*+1 covers every symmetric matrix and the RIP
/// constant delta is known exactly (see probe_lemma_5_1).
std::vector<Lemma51Shape> default_lemma_5_1_shapes();

/// Lemma 5.1 of paper 003 (statement above), both bounds. Operators are built with an
/// exactly known RIP constant: A^*A = I + E on packed coordinates with ||E|| = delta
/// (A = (I + E)^{1/2}, m = D = d(d+1)/2), so (1 +- delta) are attained and, as
/// 2r*+1 >= d, delta is the exact (2r*+1)-RIP constant. delta ranges over
/// (0, 1e-7 kappa^-4 / r*], the lemma's hypothesis. E is either random or the
/// adversarial delta * (reflection taking vech(Z* - X_sX_s^T) to a free direction), which
/// steers the first-order shift of U*_s. U*_s is computed by Newton's method from X_s to
/// gradient norm ~1e-16 relative; its certificate (gradient norm, smallest Hessian
/// eigenvalue across rotations, restarts) is in the evidence.
Verdict probe_lemma_5_1(const ProbeOptions& options,
                        const std::vector<Lemma51Shape>& shapes = default_lemma_5_1_shapes());

}  // namespace flowsense
