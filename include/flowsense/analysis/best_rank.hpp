#pragma once
// Best rank-s solutions (paper 003, Definition 1.1):
//
//   Z*_s = argmin { (1/4m) sum_i (y_i - <A_i, Z>)^2 : Z PSD, rank(Z) <= s }.
//
// With 003's operator A(Z)_i = <A_i, Z>/sqrt(m) the objective is
// (1/4)||A(Z) - b||^2; for any SensingLoss it is a positive multiple of
// G_c(U) = (c/2)||A(UU^T) - b||^2 at Z = UU^T, U in R^{d x s}, so the
// minimizer does not depend on c or on the operator's scale convention, and
// we minimize f_s(U) = G_c(U) over the d x s factor (003 (6)).
//
// Method, for each s = 1..s_max:
//   starts  - spectral: the top-s eigenpairs (V, lambda) of A*(b) (for a
//             near-isometry A*A ~ I, A*(b) ~ Z*), U = sqrt(tau) V diag(sqrt(lambda+)),
//             with tau the least-squares scale along that direction;
//           - greedy: [U*_{s-1}, eps v], v the top eigenvector of A*(b - A(Z*_{s-1}))
//             (the direction the flow escapes the saddle Z*_{s-1} along, 003 §4);
//           - `restarts` random starts: the spectral start plus a Gaussian
//             perturbation, and Gaussian factors of matching norm.
//   refine  - L-BFGS with a strong-Wolfe line search, then Newton-CG steps on
//             the horizontal space (below) with the analytic Hessian-vector
//             product, which converge quadratically to a nondegenerate minimum.
//   choose  - the start with the smallest objective.
//
// Certificate of the chosen U (what makes it a strict local minimum up to
// rotation and how reproducible it is across starts):
//   * gradient_norm = ||grad G_c(U)||_F and relative_gradient =
//     ||grad G_c|| / (2c ||A*(b)||_F ||U||_F) (scale-free);
//   * the Hessian on the quotient by rotations: G_c(U Q) = G_c(U) for every
//     orthogonal Q, so the Hessian vanishes on the vertical space
//     {U Omega : Omega skew} (dimension s(s-1)/2 at full rank). We restrict it
//     to the horizontal space (the orthogonal complement of the vertical one)
//     and report its smallest and largest eigenvalues; hessian_min > 0 means
//     a strict local minimum of f_s modulo rotations (003 Theorem 5.1 says
//     the global one is unique up to rotation under RIP);
//   * value_spread = max - min of the final objective over all starts (0 when
//     every start reaches the same value; > 0 reveals other critical points),
//     agreeing_starts = starts within a relative 1e-9 of the best value, and
//     solution_spread = max ||Z_k - Z*_s||_F over agreeing starts (uniqueness).
// This certifies a local minimum and its agreement across starts, not global
// optimality (NP-hard in general); the spectral and greedy starts are what
// make the global one likely under RIP.
//
// For s > rank of the best achievable fit (e.g. noiseless data with
// s > rank(X♮)), Z*_s = Z*_{s-1} and U has a zero column direction: the
// Hessian on the horizontal space then has (near-)zero eigenvalues and the
// certificate says "degenerate" instead of certified.
#include <cstdint>
#include <string>
#include <vector>

#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/loss/sensing_loss.hpp"

namespace flowsense {

struct BestRankOptions {
  int restarts = 4;               ///< random starts besides the spectral and greedy ones (>= 0)
  std::uint64_t seed = 0;
  int max_iterations = 3000;      ///< L-BFGS iterations per start (>= 1)
  int lbfgs_memory = 12;          ///< (>= 1)
  double lbfgs_tol = 1e-9;        ///< L-BFGS stops at this relative gradient
  int newton_steps = 30;          ///< Newton-CG polish steps (>= 0)
  double gradient_tol = 1e-13;    ///< Newton stops at this relative gradient
  /// Certified when relative_gradient <= certify_gradient and
  /// hessian_min > certify_curvature * hessian_max and solution_spread <=
  /// certify_spread * ||Z*_s||_F (with at least two agreeing starts).
  double certify_gradient = 1e-9;
  double certify_curvature = 1e-9;
  double certify_spread = 1e-6;
  EigenOptions eigen;             ///< spectral start and Hessian certificate

  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

struct HorizontalHessian {
  double min = 0.0;        ///< smallest eigenvalue of the Hessian on the horizontal space
  double max = 0.0;        ///< largest
  Index dimension = 0;     ///< dimension of the horizontal space (ds - s(s-1)/2 at full rank)
  bool converged = false;
  std::string method;      ///< "dense" or "lanczos"
  std::string message;
};

/// The extreme eigenvalues of the Hessian of G_c at U (d x s) restricted to
/// the orthogonal complement of {U Omega : Omega skew}. Uses the analytic
/// Hessian-vector product; dense when ds <= options.dense_limit.
HorizontalHessian horizontal_hessian(const SensingLoss& loss, const Matrix& U,
                                     const EigenOptions& options = {});

struct BestRankSolution {
  int s = 0;
  Matrix factor;               ///< U*_s, d x s
  Matrix Z;                    ///< Z*_s = U*_s U*_s^T
  double value = 0.0;          ///< G_c(U*_s)
  double training_error = 0.0; ///< ||A(Z*_s) - b||^2
  double gradient_norm = 0.0;
  double relative_gradient = 0.0;
  HorizontalHessian hessian;
  int starts = 0;
  int agreeing_starts = 0;
  double value_spread = 0.0;
  double solution_spread = 0.0;
  std::vector<double> start_values;  ///< final objective of every start, in start order
  bool certified = false;
  bool degenerate = false;     ///< hessian_min <= certify_curvature * hessian_max
  std::string message;         ///< what the certificate says, in one line
};

/// Z*_s for one s (>= 1, <= d); `warm` (d x (s-1), e.g. U*_{s-1}) enables the
/// greedy start. Throws std::invalid_argument on bad s or options.
BestRankSolution best_rank_solution(const SensingLoss& loss, int s, const BestRankOptions& options = {},
                                    const Matrix* warm = nullptr);

/// Z*_1 .. Z*_{s_max}, each warm-started from the previous one.
std::vector<BestRankSolution> best_rank_solutions(const SensingLoss& loss, int s_max,
                                                  const BestRankOptions& options = {});

/// The best rank-s PSD approximation of a symmetric Z in Frobenius norm
/// (Eckart-Young): the top-s eigenpairs with eigenvalues clipped at 0. For
/// full observation this is Z*_s of the planted matrix.
Matrix truncated_psd(const Matrix& Z, int s);

}  // namespace flowsense
