#pragma once
// The capture radii of paper 000, Theorem 3.2 / Assumption 3.1(v):
//
//   (6a)  ||A(U0U0^T) - b||_2 < sigma_m(M_b) sigma_min(M_b) alpha / (4 ||A||)
//   (6b)  ||U0U0^T - X♮||_F   < sigma_m(M_b) sigma_min(M_b) alpha / (4 ||A||^2)
//   (6c)  dist(U0, M_b)        < sigma_m(M_b) / (4 ||A||) * min(1, sigma_min(M_b) alpha / (4 xi ||A||))
//
// with sigma_m(M_b) = min over M_b of sigma_m(Dg(U)) (licq.hpp),
// sigma_min(M_b) = min over M_b of the smallest nonzero singular value of U,
// alpha the isometry constant on rank <= 2 rank(U0) (isometry.hpp) and ||A||
// the operator norm (operator_norm.hpp); also ||U0|| <= xi is required.
//
// IN WHICH DIRECTION EACH APPROXIMATION ERRS.
//   * sigma_m(M_b), sigma_min(M_b): minima over the compact set M_b, which we
//     can only sample (sample_manifold_constants below: Gauss-Newton
//     projections of given starts onto {A(UU^T) = b}, kept if ||U|| <= xi).
//     A minimum over samples is >= the true minimum: an UPPER bound.
//     (Caveat: when M_b contains factors of different ranks, the smallest
//     nonzero singular value over M_b can be 0; sampling never shows that.)
//   * alpha: estimate_isometry's alpha_upper, an UPPER bound.
//   * ||A||: Lanczos/dense, accurate to the eigen tolerance (from below).
// Every radius is increasing in sigma_m, sigma_min, alpha and decreasing in
// ||A||, so each computed radius is an UPPER bound on the true radius (up to
// the tolerance of ||A||). Hence:
//   * "outside" (lhs >= computed radius) is conclusive: U0 violates the
//     hypothesis for the true radius too;
//   * "inside the estimate" is NOT conclusive: the true radius may be smaller.
// For (6c) the left side itself is bracketed (manifold_distance.hpp): outside
// is concluded from the lower bound, inside-the-estimate from the upper bound,
// anything else is undetermined.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flowsense/analysis/manifold_distance.hpp"
#include "flowsense/analysis/symmetric_eigs.hpp"
#include "flowsense/problem/problem.hpp"

namespace flowsense {

struct ManifoldSample {
  Matrix point;            ///< on {A(UU^T) = b} to the projection's residual
  double sigma_m = 0.0;    ///< sigma_m(Dg(point))
  double sigma_min = 0.0;  ///< smallest singular value of point above rank_tol * sigma_1
  Index rank = 0;          ///< numerical rank at rank_tol
  double residual = 0.0;   ///< ||A(point point^T) - b||
  double norm = 0.0;       ///< ||point|| (spectral)
  bool accepted = false;   ///< projection converged and norm <= xi
};

struct ManifoldConstants {
  double sigma_m = 0.0;    ///< min sigma_m over accepted samples: >= sigma_m(M_b)
  double sigma_min = 0.0;  ///< min sigma_min over accepted samples: >= sigma_min(M_b)
  Index accepted = 0;
  std::vector<ManifoldSample> samples;  ///< every start's outcome, in start order
  std::string message;
};

/// Project each start onto {A(UU^T) = b}; samples with ||U|| <= xi are on M_b.
/// With no accepted sample, sigma_m and sigma_min are NaN and the message says so.
ManifoldConstants sample_manifold_constants(const SensingLoss& loss, double xi,
                                            const std::vector<Matrix>& starts,
                                            const ProjectionOptions& projection = {},
                                            double rank_tol = 1e-10,
                                            const EigenOptions& eigen = {});

/// A seeded set of d x p starts for the sampling above: U0 itself; the
/// planted factor (eigen-factor of X♮, zero-padded to width p) times random
/// orthogonal matrices (points of M_b when ||X♮||^{1/2} <= xi); U0 and the
/// planted factor perturbed at several relative scales; and convex
/// combinations of the two. `count` >= 1 starts in total.
std::vector<Matrix> default_manifold_starts(const Problem& problem, const Matrix& U0, int count,
                                            std::uint64_t seed);

struct CaptureRadiiInputs {
  double op_norm = 0.0;    ///< ||A||
  double alpha = 0.0;      ///< isometry constant on rank <= 2 rank(U0) (an estimate)
  double sigma_m = 0.0;    ///< sigma_m(M_b) (an estimate)
  double sigma_min = 0.0;  ///< sigma_min(M_b) (an estimate)
  double xi = 0.0;         ///< the norm bound of M_b

  /// Empty if valid (all finite, op_norm and xi > 0, the rest >= 0).
  std::string validate() const;
};

struct CaptureRadii {
  double a = 0.0;  ///< (6a): bound on ||A(U0U0^T) - b||_2
  double b = 0.0;  ///< (6b): bound on ||U0U0^T - X♮||_F
  double c = 0.0;  ///< (6c): bound on dist(U0, M_b)
};

/// The right-hand sides of (6a)-(6c). Throws std::invalid_argument on
/// invalid inputs.
CaptureRadii capture_radii(const CaptureRadiiInputs& inputs);

enum class Membership {
  outside,          ///< lhs >= computed radius: conclusive (the computed radius is an upper bound)
  inside_estimate,  ///< lhs < computed radius: inconclusive for the true radius
  undetermined,     ///< (6c) only: the distance bracket straddles the radius
};
std::string to_string(Membership membership);

struct CaptureCheck {
  CaptureRadii radii;
  double training_residual = 0.0;  ///< ||A(U0U0^T) - b||_2, lhs of (6a)
  double test_error = 0.0;         ///< ||U0U0^T - X♮||_F, lhs of (6b)
  double dist_lower = 0.0;         ///< lhs of (6c), bracketed
  double dist_upper = 0.0;
  double u0_norm = 0.0;            ///< ||U0||
  bool norm_ok = false;            ///< ||U0|| <= xi
  Membership a = Membership::outside, b = Membership::outside, c = Membership::outside;
  /// Any of (6a)-(6c) may hold (000 says "any of the inequalities"): true if
  /// at least one is inside_estimate or undetermined; false means U0 is
  /// conclusively outside all three (given the estimates' directions).
  bool possibly_inside = false;
  std::string explanation;         ///< one paragraph: the numbers and the directions
};

/// Compare U0 with the radii. `distance` are the bounds of dist(U0, M_b)
/// (manifold_distance_bounds with the same xi).
CaptureCheck check_capture(const SensingLoss& loss, const Matrix& planted, const Matrix& U0,
                           const CaptureRadiiInputs& inputs, const ManifoldDistanceBounds& distance);

}  // namespace flowsense
