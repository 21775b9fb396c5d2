#pragma once
// An adversarial search for a violation of an inequality  lhs(x) >= rhs(x).
//
// The claim is split into families (one per matrix shape or regime); each family maps
// a parameter vector x in R^n to the two sides. For every family the search
//   1. draws `random_points` inputs from the family's samplers (named random
//      distributions: generic Gaussian, ill-conditioned, nearly equal, structured ...);
//   2. takes the `local_starts` points with the smallest relative slack and runs a
//      derivative-free local minimization of the relative slack from each (Nelder-Mead
//      with the dimension-adaptive coefficients of Gao & Han 2012, restarted around
//      the best point whenever the simplex collapses, until its budget is spent).
// The relative slack (lhs - rhs) / max(|lhs|, |rhs|) is in [-1, 1] when both sides are
// non-negative, so it compares points of different scale; a point is a violation when
//   relative slack < -tolerance   and   lhs - rhs < -error_bound(x),
// where error_bound is the family's own a-posteriori bound on the error of the computed
// difference (0 when the tolerance alone covers rounding).
//
// Points whose hypotheses fail (admissible == false) are counted but never minimized
// over: the search only looks for violations the claim actually forbids.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "flowsense/core/random.hpp"
#include "flowsense/core/types.hpp"

namespace flowsense {

/// The two sides of the inequality lhs >= rhs at one point.
struct InequalityValue {
  double lhs = 0.0, rhs = 0.0;
  bool admissible = true;     ///< the claim's hypotheses hold here
  std::string reason;         ///< why not admissible
  double error_bound = 0.0;   ///< bound on the absolute error of lhs - rhs as computed
};

/// (lhs - rhs) / max(|lhs|, |rhs|); 0 when both are 0; NaN if either side is not finite.
double relative_slack(const InequalityValue& value);

struct Sampler {
  std::string name;
  std::function<Vector(Rng&)> draw;
};

struct InequalityFamily {
  std::string name;  ///< e.g. "d=3 p=2 rank(U)=1 rank(V)=2"
  Index dimension = 0;
  std::function<InequalityValue(const Vector& x)> evaluate;
  std::vector<Sampler> samplers;
  /// Optional: the initial simplex edge of a local search started at x (e.g. the
  /// distance to a set the inequality is tight near). Default 0.1 max(1, max_i |x_i|).
  std::function<double(const Vector& x)> local_scale;
};

struct SearchOptions {
  std::uint64_t seed = 1;
  int random_points = 400;       ///< per family, split evenly over its samplers (> 0)
  int local_starts = 4;          ///< per family: how many of the best random points to refine (>= 0)
  int local_evaluations = 1500;  ///< per local start (>= 0)
  double tolerance = 1e-8;       ///< relative-slack tolerance (>= 0), see the header comment
  /// Empty if valid, else a message naming the violated condition.
  std::string validate() const;
};

struct FamilyResult {
  std::string family;
  std::uint64_t tried = 0;       ///< evaluations, random and local
  std::uint64_t admissible = 0;  ///< evaluations where the hypotheses held
  std::uint64_t violations = 0;  ///< admissible evaluations that violate the inequality
  double min_slack = std::numeric_limits<double>::infinity();  ///< smallest relative slack
  Vector argmin;                 ///< where it was found
  InequalityValue at_min;
  std::string found_by;          ///< sampler name, or "local search from <sampler>"
  bool violated = false;         ///< argmin is a violation (see the header comment)
  /// The smallest relative slack after each admissible evaluation (for the figure).
  std::vector<double> best_so_far;
  /// (lhs, rhs) of up to 1500 random-phase admissible points (for the figure).
  std::vector<std::pair<double, double>> sample_sides;
};

struct SearchResult {
  std::vector<FamilyResult> families;
  SearchOptions options;
  /// The family with the smallest relative slack (index into families).
  std::size_t worst() const;
  std::uint64_t tried() const;
  std::uint64_t admissible() const;
  std::uint64_t violations() const;
  bool violated() const;
};

/// Runs the search over every family. Throws std::invalid_argument on invalid options
/// or a family without samplers. Deterministic for a given seed.
SearchResult search_inequality(const std::vector<InequalityFamily>& families,
                               const SearchOptions& options);

/// Derivative-free minimization of f from x0 (adaptive Nelder-Mead with restarts).
/// `scale` is the initial simplex edge. Returns the best point; `evaluations` counts
/// calls of f. Non-finite values of f are treated as +infinity.
Vector nelder_mead(const std::function<double(const Vector&)>& f, const Vector& x0, double scale,
                   int max_evaluations, double* best_value = nullptr);

}  // namespace flowsense
