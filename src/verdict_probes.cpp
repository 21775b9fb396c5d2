// The inequality probes of verdict/probes.hpp: Lemmas F.2 and E.1 and the PL
// inequality (12) of paper 000, Lemma 5.1 of paper 003.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/operator_norm.hpp"
#include "flowsense/analysis/procrustes.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/verdict/probes.hpp"

namespace flowsense {

std::string ProbeOptions::validate() const {
  if (auto e = search.validate(); !e.empty()) return "search." + e;
  if (!(constant_factor > 0) || !std::isfinite(constant_factor))
    return "constant_factor must be finite and > 0, got " + std::to_string(constant_factor);
  return {};
}

std::vector<ProcrustesShape> default_procrustes_shapes() {
  // Rank-deficient cases first (where the proof of App. G needs care), then full-rank
  // square ones (p = d, rank d), where max(.) is what the proof gives.
  return {{2, 1, 1, 1}, {3, 2, 2, 2}, {3, 2, 1, 2}, {4, 3, 2, 3}, {4, 4, 2, 2},
          {3, 3, 3, 3}, {4, 4, 4, 4}};
}

std::vector<PlShape> default_pl_shapes() { return {{4, 4, 7, 2}, {5, 3, 9, 2}, {6, 2, 11, 2}}; }

std::vector<Lemma51Shape> default_lemma_5_1_shapes() { return {{5, 2, 1}, {7, 3, 1}, {7, 3, 2}}; }

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

Matrix block(const Vector& x, Index offset, Index rows, Index cols) {
  return Eigen::Map<const Matrix>(x.data() + offset, rows, cols);
}

Matrix random_orthogonal(Index n, Rng& rng) {
  const Matrix G = rng.normal_matrix(n, n);
  Eigen::HouseholderQR<Matrix> qr(G);
  Matrix Q = qr.householderQ();
  // Sign fix so that Q is Haar distributed.
  const Matrix R = qr.matrixQR().triangularView<Eigen::Upper>();
  for (Index i = 0; i < n; ++i)
    if (R(i, i) < 0) Q.col(i) = -Q.col(i);
  return Q;
}

Vector uniform_vector(Index n, Rng& rng, double lo, double hi) {
  Vector v(n);
  for (Index i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rng.uniform();
  return v;
}

Vector flatten(std::initializer_list<const Matrix*> parts) {
  Index n = 0;
  for (auto* p : parts) n += p->size();
  Vector x(n);
  Index k = 0;
  for (auto* p : parts) {
    x.segment(k, p->size()) = Eigen::Map<const Vector>(p->data(), p->size());
    k += p->size();
  }
  return x;
}

// --------------------------------------------------------------------------
// The verdict of a search, shared by every probe.

struct ProbeReport {
  Claim claim;
  std::string inequality;  ///< "lhs >= rhs" in words, for the summary
  std::string lhs_name, rhs_name;
  std::vector<std::string> family_notes;  ///< extra text per family (same order), optional
  std::function<std::vector<Witness>(std::size_t family, const Vector& x)> witnesses;
  std::vector<std::string> notes;
  std::vector<Hypothesis> hypotheses;
  nlohmann::json setup;
  /// Plot rhs/lhs (log scale, above 1 = violated) instead of the relative slack: for
  /// claims that hold with a wide margin, where the slack is ~1 everywhere.
  bool ratio_panel = false;
};

std::string search_reason(double tol) {
  return "a point violates the inequality only if its relative slack (lhs - rhs)/max(|lhs|,|rhs|) < -" +
         format_significant(tol) +
         " AND lhs - rhs is below minus the point's a-posteriori bound on the rounding (and, where there "
         "is one, inner-solver) error of the computed difference. Both sides are computed in double "
         "precision with relative errors of order 1e-15 for these sizes, so " + format_significant(tol) +
         " leaves five orders of magnitude of margin against false alarms while still seeing any "
         "violation larger than one part in 1e8. It was fixed before any search ran.";
}

void add_search_figure(Verdict& v, const SearchResult& r, const std::string& lhs_name,
                       const std::string& rhs_name, bool ratio) {
  v.figure.title = v.claim.name + ": adversarial search";
  Panel best;
  best.x_label = "admissible evaluations";
  best.log_x = true;
  if (ratio) {
    best.title = "largest rhs/lhs found so far (above 1 = violated)";
    best.y_label = "rhs / lhs";
    best.log_y = true;
  } else {
    best.title = "smallest relative slack found so far (below 0 = violated)";
    best.y_label = "(lhs - rhs) / max(|lhs|, |rhs|)";
    best.y_min = -1.05;
    best.y_max = 1.05;
  }
  for (const auto& f : r.families) {
    Series s;
    s.label = f.family;
    for (std::size_t i = 0; i < f.best_so_far.size(); ++i) {
      const double sl = f.best_so_far[i];
      // A step function: keep the points where it changes (and the ends).
      if (i > 0 && i + 1 < f.best_so_far.size() && sl == f.best_so_far[i - 1] && sl == f.best_so_far[i + 1])
        continue;
      s.x.push_back(static_cast<double>(i + 1));
      // slack = 1 - rhs/lhs when lhs >= rhs >= 0, and lhs/rhs - 1 when rhs > lhs >= 0.
      s.y.push_back(ratio ? (sl >= 0 ? 1.0 - sl : 1.0 / (1.0 + sl)) : sl);
    }
    best.series.push_back(std::move(s));
  }
  best.hlines.push_back({ratio ? 1.0 : 0.0, ratio ? "violation threshold (1)" : "violation threshold (0)"});
  v.figure.panels.push_back(std::move(best));

  Panel scatter;
  scatter.title = "random-phase points: left side against right side";
  scatter.x_label = rhs_name + " (right side)";
  scatter.y_label = lhs_name + " (left side)";
  scatter.log_x = scatter.log_y = true;
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  // At most ~1200 dots in all, so that the SVG stays small.
  std::size_t total = 0;
  for (const auto& f : r.families) total += f.sample_sides.size();
  const std::size_t stride = std::max<std::size_t>(1, (total + 1199) / 1200);
  for (const auto& f : r.families) {
    Series s;
    s.label = f.family;
    s.lines = false;
    s.markers = true;
    for (std::size_t i = 0; i < f.sample_sides.size(); i += stride) {
      const auto [l, rr] = f.sample_sides[i];
      s.x.push_back(rr);
      s.y.push_back(l);
      if (rr > 0) {
        lo = std::min(lo, rr);
        hi = std::max(hi, rr);
      }
      if (l > 0) {
        lo = std::min(lo, l);
        hi = std::max(hi, l);
      }
    }
    scatter.series.push_back(std::move(s));
  }
  if (std::isfinite(lo) && hi > lo) {
    Series diag;
    diag.label = "lhs = rhs (below: violated)";
    diag.dashed = true;
    diag.x = {lo, hi};
    diag.y = {lo, hi};
    scatter.series.push_back(std::move(diag));
  }
  v.figure.panels.push_back(std::move(scatter));
}

Verdict verdict_from_search(const SearchResult& r, const ProbeOptions& o, ProbeReport report) {
  Verdict v;
  v.claim = std::move(report.claim);
  v.hypotheses = std::move(report.hypotheses);
  v.notes = std::move(report.notes);
  v.setup = std::move(report.setup);
  v.setup["search"] = {{"seed", o.search.seed},
                       {"random_points_per_family", o.search.random_points},
                       {"local_starts_per_family", o.search.local_starts},
                       {"local_evaluations_per_start", o.search.local_evaluations},
                       {"tolerance", o.search.tolerance}};
  v.setup["constant_factor"] = o.constant_factor;

  const std::size_t w = r.worst();
  const FamilyResult& worst = r.families.at(w);
  v.add("points_tried", static_cast<double>(r.tried()), "evaluations over all families, random and local");
  v.add("admissible_points", static_cast<double>(r.admissible()),
        "evaluations where the claim's hypotheses held");
  v.add("violating_points", static_cast<double>(r.violations()),
        "admissible evaluations beyond the tolerance and the error bound");
  v.add("min_relative_slack", worst.min_slack, "smallest (lhs - rhs)/max(|lhs|,|rhs|) found, family: " + worst.family);
  v.add("lhs_at_min", worst.at_min.lhs, report.lhs_name);
  v.add("rhs_at_min", worst.at_min.rhs, report.rhs_name);
  v.add("error_bound_at_min", worst.at_min.error_bound,
        "a-posteriori bound on the error of lhs - rhs at that point");
  v.add("constant_factor", o.constant_factor,
        o.constant_factor == 1.0 ? "1: the paper's constant" : "a deliberately strengthened (planted) claim");

  v.tolerances.push_back({"relative slack", o.search.tolerance, search_reason(o.search.tolerance)});

  EvidenceTable t;
  t.name = "families";
  t.caption = "One row per family (shape/regime) searched. min_rel_slack is the smallest relative slack; "
              "found_by tells where the minimizer came from.";
  t.label_column = "family";
  t.columns = {"tried", "admissible", "violations", "min_rel_slack", "lhs_at_min", "rhs_at_min"};
  for (std::size_t i = 0; i < r.families.size(); ++i) {
    const auto& f = r.families[i];
    t.row_labels.push_back(f.family + (i < report.family_notes.size() ? report.family_notes[i] : "") +
                           " [" + (f.found_by.empty() ? "-" : f.found_by) + "]");
    t.rows.push_back({static_cast<double>(f.tried), static_cast<double>(f.admissible),
                      static_cast<double>(f.violations), f.min_slack, f.at_min.lhs, f.at_min.rhs});
  }
  v.tables.push_back(std::move(t));

  if (r.admissible() == 0) {
    v.status = VerdictStatus::inconclusive;
    v.summary = "No admissible point was found (the hypotheses failed at every point tried), so the search "
                "says nothing about " + v.claim.name + ".";
  } else if (r.violated()) {
    v.status = VerdictStatus::violated;
    std::size_t vf = w;
    for (std::size_t i = 0; i < r.families.size(); ++i)
      if (r.families[i].violated && r.families[i].min_slack <= r.families[vf].min_slack) vf = i;
    const auto& f = r.families[vf];
    std::ostringstream s;
    s << v.claim.name << " fails: at a point of family '" << f.family << "' (found by " << f.found_by
      << ") the inequality " << report.inequality << " has lhs = " << format_significant(f.at_min.lhs)
      << " < rhs = " << format_significant(f.at_min.rhs) << " (relative slack " << format_significant(f.min_slack)
      << ", beyond the tolerance " << format_significant(o.search.tolerance) << " and the error bound "
      << format_significant(f.at_min.error_bound) << "). " << r.violations() << " of " << r.admissible()
      << " admissible points violate it. The witness matrices are saved.";
    if (o.constant_factor != 1.0)
      s << " (This is the planted variant with the constant made " << format_significant(o.constant_factor)
        << " times stronger.)";
    v.summary = s.str();
    if (report.witnesses) {
      for (auto& wit : report.witnesses(vf, f.argmin)) v.witnesses.push_back(std::move(wit));
    }
  } else {
    v.status = VerdictStatus::holds;
    std::ostringstream s;
    s << "No violation of " << report.inequality << " in " << r.tried() << " points (" << r.admissible()
      << " admissible) over " << r.families.size()
      << " families, random and locally optimized against the slack. The smallest relative slack found is "
      << format_significant(worst.min_slack) << " (family '" << worst.family << "', found by " << worst.found_by
      << "). This is evidence, not a proof.";
    if (o.constant_factor != 1.0)
      s << " (Planted variant: constant " << format_significant(o.constant_factor) << " times stronger.)";
    v.summary = s.str();
    if (report.witnesses) {
      for (auto& wit : report.witnesses(w, worst.argmin)) {
        wit.name = "closest_" + wit.name;
        wit.description = "at the point of smallest slack (not a violation): " + wit.description;
        v.witnesses.push_back(std::move(wit));
      }
    }
  }
  add_search_figure(v, r, report.lhs_name, report.rhs_name, report.ratio_panel);
  return v;
}

// --------------------------------------------------------------------------
// Lemmas F.2 and E.1: U = A_U B_U^T, V = A_V B_V^T with explicit ranks.

struct FactorLayout {
  ProcrustesShape s;
  Index size() const { return (s.d + s.p) * (s.rank_u + s.rank_v); }
  Matrix U(const Vector& x) const {
    return block(x, 0, s.d, s.rank_u) * block(x, s.d * s.rank_u, s.p, s.rank_u).transpose();
  }
  Matrix V(const Vector& x) const {
    const Index o = (s.d + s.p) * s.rank_u;
    return block(x, o, s.d, s.rank_v) * block(x, o + s.d * s.rank_v, s.p, s.rank_v).transpose();
  }
  Vector pack(const Matrix& AU, const Matrix& BU, const Matrix& AV, const Matrix& BV) const {
    return flatten({&AU, &BU, &AV, &BV});
  }
};

std::string shape_name(const ProcrustesShape& s) {
  return "d=" + std::to_string(s.d) + " p=" + std::to_string(s.p) + " rank(U)=" + std::to_string(s.rank_u) +
         " rank(V)=" + std::to_string(s.rank_v);
}

void check_shape(const ProcrustesShape& s, const char* who) {
  if (s.d < 1 || s.p < 1 || s.rank_u < 1 || s.rank_v < 1 || s.rank_u > std::min(s.d, s.p) ||
      s.rank_v > std::min(s.d, s.p))
    throw std::invalid_argument(std::string(who) + ": shape " + shape_name(s) +
                                " needs d, p >= 1 and 1 <= rank(U), rank(V) <= min(d, p)");
}

/// The smallest nonzero singular value of a matrix built with rank r, or NaN when the
/// rank is not numerically unambiguous (sigma_r < 1e-8 sigma_1).
double sigma_min_nonzero(const Matrix& U, Index r) {
  const Vector s = Eigen::JacobiSVD<Matrix>(U).singularValues();
  if (!(s[0] > 0) || r > s.size()) return std::numeric_limits<double>::quiet_NaN();
  const double v = s[r - 1];
  return v >= 1e-8 * s[0] ? v : std::numeric_limits<double>::quiet_NaN();
}

InequalityValue procrustes_inequality(const Matrix& U, const Matrix& V, const ProcrustesShape& shape,
                                      SigmaCombination comb, double factor) {
  InequalityValue v;
  const double su = sigma_min_nonzero(U, shape.rank_u), sv = sigma_min_nonzero(V, shape.rank_v);
  if (!std::isfinite(su) || !std::isfinite(sv)) {
    v.admissible = false;
    v.reason = "rank not numerically unambiguous (sigma_r < 1e-8 sigma_1)";
    return v;
  }
  v.lhs = (U * U.transpose() - V * V.transpose()).norm();
  const double dist = procrustes(U, V).distance;
  const double c = comb == SigmaCombination::max_as_stated ? std::max(su, sv) : std::min(su, sv);
  v.rhs = factor * c * dist;
  const double scale = U.squaredNorm() + V.squaredNorm();
  v.error_bound = 64.0 * kEps * static_cast<double>(shape.d + shape.p) * scale * (1.0 + factor);
  return v;
}

std::vector<Sampler> procrustes_samplers(const FactorLayout& L) {
  const ProcrustesShape s = L.s;
  std::vector<Sampler> out;
  out.push_back({"gaussian", [L](Rng& rng) {
                   Vector x(L.size());
                   for (Index i = 0; i < x.size(); ++i) x[i] = rng.normal();
                   return x;
                 }});
  out.push_back({"graded", [L, s](Rng& rng) {
                   Matrix AU = rng.normal_matrix(s.d, s.rank_u), BU = rng.normal_matrix(s.p, s.rank_u);
                   Matrix AV = rng.normal_matrix(s.d, s.rank_v), BV = rng.normal_matrix(s.p, s.rank_v);
                   for (Index j = 0; j < s.rank_u; ++j) AU.col(j) *= std::pow(10.0, -2.0 * rng.uniform());
                   for (Index j = 0; j < s.rank_v; ++j) AV.col(j) *= std::pow(10.0, -2.0 * rng.uniform());
                   return L.pack(AU, BU, AV, BV);
                 }});
  out.push_back({"scaled", [L, s](Rng& rng) {
                   Matrix AU = rng.normal_matrix(s.d, s.rank_u), BU = rng.normal_matrix(s.p, s.rank_u);
                   Matrix AV = rng.normal_matrix(s.d, s.rank_v), BV = rng.normal_matrix(s.p, s.rank_v);
                   AV *= std::pow(10.0, 2.0 * (2.0 * rng.uniform() - 1.0));
                   return L.pack(AU, BU, AV, BV);
                 }});
  if (s.rank_u == s.rank_v)
    out.push_back({"nearly_equal", [L, s](Rng& rng) {
                     Matrix AU = rng.normal_matrix(s.d, s.rank_u), BU = rng.normal_matrix(s.p, s.rank_u);
                     const Matrix Q = random_orthogonal(s.p, rng);
                     Matrix AV = AU + std::pow(10.0, -3.0 * rng.uniform()) * rng.normal_matrix(s.d, s.rank_v);
                     Matrix BV = Q * BU;
                     return L.pack(AU, BU, AV, BV);
                   }});
  if (s.rank_u + s.rank_v <= s.d)
    out.push_back({"orthogonal_ranges", [L, s](Rng& rng) {
                     Matrix AU = Matrix::Zero(s.d, s.rank_u), AV = Matrix::Zero(s.d, s.rank_v);
                     AU.topRows(s.rank_u) = rng.normal_matrix(s.rank_u, s.rank_u);
                     AV.middleRows(s.rank_u, s.rank_v) = rng.normal_matrix(s.rank_v, s.rank_v);
                     AV *= std::pow(10.0, 2.0 * rng.uniform() - 1.0);
                     return L.pack(AU, rng.normal_matrix(s.p, s.rank_u), AV, rng.normal_matrix(s.p, s.rank_v));
                   }});
  return out;
}

std::string combination_text(SigmaCombination c) {
  return c == SigmaCombination::max_as_stated ? "max(sigma_min(U), sigma_min(V))"
                                              : "min(sigma_min(U), sigma_min(V))";
}

}  // namespace

Verdict probe_lemma_f2(const ProbeOptions& options, SigmaCombination comb,
                       const std::vector<ProcrustesShape>& shapes) {
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("probe_lemma_f2(): " + e);
  if (shapes.empty()) throw std::invalid_argument("probe_lemma_f2(): expected at least one shape");
  std::vector<InequalityFamily> families;
  std::vector<FactorLayout> layouts;
  for (const auto& s : shapes) {
    check_shape(s, "probe_lemma_f2()");
    FactorLayout L{s};
    layouts.push_back(L);
    const double factor = options.constant_factor;
    families.push_back({shape_name(s), L.size(),
                        [L, comb, factor](const Vector& x) {
                          return procrustes_inequality(L.U(x), L.V(x), L.s, comb, factor);
                        },
                        procrustes_samplers(L)});
  }
  const SearchResult r = search_inequality(families, options.search);

  ProbeReport rep;
  const bool stated = comb == SigmaCombination::max_as_stated;
  rep.claim.name = stated ? "Lemma F.2 (paper 000)" : "Lemma F.2 with min instead of max (corrected variant)";
  rep.claim.statement =
      "For matrices U, V in R^{d x p}, ||UU^T - VV^T||_F >= " + combination_text(comb) +
      " * dist(U, V O_p), where sigma_min is the smallest nonzero singular value and dist(U, V O_p) = "
      "min_{R in O_p} ||U - VR||_F = sqrt(||U||_F^2 + ||V||_F^2 - 2||U^T V||_*) (53). No further hypotheses." +
      (stated ? std::string() : std::string(" (Not the paper's statement: the variant that the argument of "
                                            "Appendix G supports when U or V is rank deficient.)"));
  rep.claim.source = "Eftekhari & Zygalakis, Appendix F, Lemma F.2, eq. (54) (quoting Li, Zhu & Tang 2019, "
                     "Lemma 3); proof in Appendix G, eqs. (58)-(64)";
  rep.inequality = "||UU^T - VV^T||_F >= " + combination_text(comb) + " dist(U, V O_p)";
  rep.lhs_name = "||UU^T - VV^T||_F";
  rep.rhs_name = (options.constant_factor == 1.0 ? "" : format_significant(options.constant_factor) + " * ") +
                 (stated ? "max" : "min") + "(sigma_min) * dist";
  rep.hypotheses.push_back({"none (any U, V in R^{d x p})", HypothesisStatus::met,
                            "points whose rank is not numerically unambiguous (sigma_r < 1e-8 sigma_1) are "
                            "skipped, since sigma_min (smallest NONZERO singular value) is undefined there"});
  rep.witnesses = [layouts](std::size_t f, const Vector& x) {
    const auto& L = layouts[f];
    return std::vector<Witness>{{"U", L.U(x), "U (d x p), " + shape_name(L.s)},
                                {"V", L.V(x), "V (d x p)"}};
  };
  rep.notes.push_back(
      "Appendix G writes U = Ubar Sigma_U with d x d orthonormal Ubar and pads the singular values with zeros. "
      "In (61) the factor (sigma_{U,i} + sigma_{V,j})^2 is bounded below by max(sigma_min(U), sigma_min(V))^2 "
      "for every pair (i, j) with a nonzero term; but a pair with sigma_{U,i} = 0 < sigma_{V,j} only gives "
      "sigma_{V,j}^2 >= sigma_min(V)^2, so the argument yields min(.) unless both U and V have rank d. "
      "(The line of (61) that multiplies (sigma_U,i^2 - sigma_V,j^2)^2 by (sigma_U,i - sigma_V,j)^2 is also "
      "a typo for the factorization (sigma_U,i + sigma_V,j)^2 (sigma_U,i - sigma_V,j)^2.)");
  rep.notes.push_back("A hand example: d = 2, p = 1, U = e_1, V = 0.5 e_2: ||UU^T - VV^T||_F = sqrt(1.0625) = "
                      "1.0308, dist(U, V O_1) = sqrt(1.25) = 1.1180, max(sigma_min) = 1, so the stated "
                      "inequality reads 1.0308 >= 1.1180 (false); with min it reads 1.0308 >= 0.5590.");
  rep.setup["probe"] = "lemma_f2";
  rep.setup["combination"] = stated ? "max_as_stated" : "min_corrected";
  for (const auto& s : shapes) rep.setup["shapes"].push_back({s.d, s.p, s.rank_u, s.rank_v});
  return verdict_from_search(r, options, std::move(rep));
}

Verdict probe_lemma_e1(const ProbeOptions& options, SigmaCombination comb,
                       const std::vector<ProcrustesShape>& shapes) {
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("probe_lemma_e1(): " + e);
  if (shapes.empty()) throw std::invalid_argument("probe_lemma_e1(): expected at least one shape");
  std::vector<InequalityFamily> families;
  std::vector<FactorLayout> layouts;
  std::vector<std::shared_ptr<const GaussianOperator>> ops;
  std::vector<std::string> family_notes;
  std::uint64_t op_seed = Rng::derive_seed(options.search.seed, 0xE1);
  for (const auto& s : shapes) {
    check_shape(s, "probe_lemma_e1()");
    FactorLayout L{s};
    const Index D = packed_size(s.d);
    // A Gaussian operator with m = D measurements; injective on Sym(d) iff its packed
    // matrix has full column rank. Redraw (rarely needed) until it is well conditioned.
    std::shared_ptr<const GaussianOperator> op;
    double cond = std::numeric_limits<double>::infinity();
    for (int attempt = 0; attempt < 20 && !(cond <= 1e8); ++attempt) {
      op = std::make_shared<GaussianOperator>(s.d, D, GaussianScale::unit, Rng::derive_seed(op_seed++, attempt));
      const Vector sv = Eigen::JacobiSVD<Matrix>(op->packed_rows()).singularValues();
      cond = sv[0] / sv[sv.size() - 1];
    }
    layouts.push_back(L);
    ops.push_back(op);
    family_notes.push_back(", cond(A)=" + format_significant(cond));
    const double factor = options.constant_factor;
    const bool injective = cond <= 1e8;
    families.push_back(
        {shape_name(s) + " m=" + std::to_string(D), L.size(),
         [L, comb, factor, injective, op](const Vector& x) {
           const Matrix U = L.U(x), V = L.V(x);
           if (!injective) {
             InequalityValue v;
             v.admissible = false;
             v.reason = "operator not certified injective";
             return v;
           }
           // xi = max(||U||, ||V||) >= ||V||, so V in M_V and M_V = V O_p (A injective on Sym(d)).
           // sigma_min(M_V) = sigma_min(V) and dist(U, M_V) = dist(U, V O_p); the consistency
           // A(V'V'^T) = A(VV^T) at the nearest V' = V R is checked on the way.
           InequalityValue v = procrustes_inequality(U, V, L.s, comb, factor);
           if (v.admissible) {
             const Procrustes pr = procrustes(U, V);
             const Matrix Vp = V * pr.rotation;
             const double consistency = ((*op)(Vp * Vp.transpose()) - (*op)(V * V.transpose())).norm();
             if (!(consistency <= 1e-10 * (1.0 + (*op)(V * V.transpose()).norm()))) {
               v.admissible = false;
               v.reason = "nearest point V R not in M_V to rounding";
             }
           }
           return v;
         },
         procrustes_samplers(L)});
  }
  const SearchResult r = search_inequality(families, options.search);

  ProbeReport rep;
  const bool stated = comb == SigmaCombination::max_as_stated;
  rep.claim.name = stated ? "Lemma E.1 (paper 000)" : "Lemma E.1 with min instead of max (corrected variant)";
  rep.claim.statement =
      "For matrices U, V in R^{d x p}, ||UU^T - VV^T||_F >= " +
      std::string(stated ? "max" : "min") +
      "(sigma_min(U), sigma_min(M_V)) * dist(U, M_V), where M_V = {V' : A(V'V'^T) = A(VV^T), ||V'|| <= xi}, "
      "sigma_min(M_V) = min_{V' in M_V} sigma_min(V'), sigma_min is the smallest nonzero singular value, "
      "dist(U, M_V) = min_{V' in M_V} ||U - V'||_F (14), A is the operator of (sense) with symmetric A_i and "
      "xi > 0 is the bound of (model) (the lemma is applied with V in M_V, i.e. ||V|| <= xi).";
  rep.claim.source = "Eftekhari & Zygalakis, Appendix E, Lemma E.1, eqs. (43)-(44); proof in Appendix F, (55)-(57)";
  rep.inequality = "||UU^T - VV^T||_F >= " + std::string(stated ? "max" : "min") +
                   "(sigma_min(U), sigma_min(M_V)) dist(U, M_V)";
  rep.lhs_name = "||UU^T - VV^T||_F";
  rep.rhs_name = std::string(stated ? "max" : "min") + "(sigma_min) * dist(U, M_V)";
  rep.family_notes = family_notes;
  rep.hypotheses.push_back(
      {"V in M_V (||V|| <= xi)", HypothesisStatus::met, "xi = max(||U||, ||V||) at every point"});
  rep.hypotheses.push_back(
      {"A injective on symmetric matrices (makes M_V = V O_p computable)", HypothesisStatus::met,
       "Gaussian A with m = d(d+1)/2, packed matrix condition number <= 1e8 (per family in the table)"});
  rep.witnesses = [layouts, ops](std::size_t f, const Vector& x) {
    const auto& L = layouts[f];
    return std::vector<Witness>{
        {"U", L.U(x), "U (d x p), " + shape_name(L.s)},
        {"V", L.V(x), "V (d x p); xi = max(||U||, ||V||)"},
        {"A_packed", ops[f]->packed_rows(),
         "the operator: row i = vech(A_i) (off-diagonals times sqrt 2), A(X)_i = <row i, vech(X)>"}};
  };
  rep.notes.push_back(
      "With an injective A, A(V'V'^T) = A(VV^T) forces V'V'^T = VV^T, i.e. V' = V R with R in O_p, so M_V = V O_p "
      "and Lemma E.1 becomes Lemma F.2 for the same U, V (sigma_min(M_V) = sigma_min(V)). Its proof (57) "
      "indeed goes through Lemma F.2; a counterexample to F.2 with p < d or rank-deficient factors is one to "
      "E.1. The proof of Lemma C.2 applies E.1 in (45) with U = U_t of rank r0 < d, exactly the rank-deficient "
      "regime.");
  rep.notes.push_back(
      "For a non-injective A, M_V is larger and dist(U, M_V) is only bracketed (a Gauss-Newton projection gives "
      "an upper bound); the available lower bounds ||A(UU^T - VV^T)|| / (||A|| (||U|| + xi)) are too weak to "
      "certify a violation, so the probe restricts itself to injective operators, where both sides are exact.");
  rep.setup["probe"] = "lemma_e1";
  rep.setup["combination"] = stated ? "max_as_stated" : "min_corrected";
  rep.setup["operator_seed_base"] = Rng::derive_seed(options.search.seed, 0xE1);
  for (const auto& s : shapes) rep.setup["shapes"].push_back({s.d, s.p, s.rank_u, s.rank_v});
  return verdict_from_search(r, options, std::move(rep));
}

// --------------------------------------------------------------------------
// The PL inequality (12).

Verdict probe_pl_inequality(const ProbeOptions& options, const std::vector<PlShape>& shapes) {
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("probe_pl_inequality(): " + e);
  if (shapes.empty()) throw std::invalid_argument("probe_pl_inequality(): expected at least one shape");
  struct Case {
    PlShape shape;
    std::shared_ptr<const GaussianOperator> op;
    Problem problem;
    Matrix planted_factor;  // d x p, planted_factor planted_factor^T = X♮
    double op_norm;
  };
  std::vector<std::shared_ptr<Case>> cases;
  std::vector<InequalityFamily> families;
  std::vector<std::string> family_notes;
  std::uint64_t k = 0;
  for (const auto& s : shapes) {
    const Index kk = std::min(s.d, s.p);
    if (s.d < 1 || s.p < 1 || s.m < 1 || s.r < 1 || s.r > kk || s.m > s.d * kk - kk * (kk - 1) / 2)
      throw std::invalid_argument("probe_pl_inequality(): shape d=" + std::to_string(s.d) + " p=" +
                                  std::to_string(s.p) + " m=" + std::to_string(s.m) + " r=" + std::to_string(s.r) +
                                  " needs 1 <= r <= min(d, p) = k and 1 <= m <= dk - k(k-1)/2 (the largest rank of "
                                  "Dg(U); otherwise sigma_m(Dg(U)) = 0 for every U)");
    auto c = std::make_shared<Case>();
    c->shape = s;
    const std::uint64_t seed = Rng::derive_seed(options.search.seed, 0x12000 + k++);
    c->op = std::make_shared<GaussianOperator>(s.d, s.m, GaussianScale::unit, seed);
    c->problem = Problem::noiseless(c->op, planted_trace_one(s.d, s.r, seed + 1));
    Eigen::SelfAdjointEigenSolver<Matrix> eig(c->problem.planted);
    c->planted_factor = Matrix::Zero(s.d, s.p);
    for (Index j = 0; j < s.r; ++j) {
      const Index col = s.d - 1 - j;
      c->planted_factor.col(j) = eig.eigenvectors().col(col) * std::sqrt(std::max(eig.eigenvalues()[col], 0.0));
    }
    c->op_norm = operator_norm(*c->op).value;
    cases.push_back(c);
    family_notes.push_back(", ||A||=" + format_significant(c->op_norm));
    const double factor = options.constant_factor;
    const Index n = s.d * s.p;
    auto evaluate = [c, factor](const Vector& x) {
      const Matrix U = Eigen::Map<const Matrix>(x.data(), c->shape.d, c->shape.p);
      const SensingLoss loss(c->problem, loss_constant::paper000);  // G = (1/8)||A(UU^T) - b||^2
      Matrix grad;
      const double G = loss.value_and_gradient(U, grad);            // grad G = A*(g(U)) U, g = r/2
      const LicqMargin lm = licq_margin(*c->op, U);
      InequalityValue v;
      if (!lm.converged) {
        v.admissible = false;
        v.reason = "sigma_m(Dg(U)) did not converge: " + lm.message;
        return v;
      }
      const double mu = std::max(lm.lambda_min, 0.0);  // sigma_m(Dg(U))^2
      v.lhs = 0.5 * grad.squaredNorm();
      v.rhs = factor * mu * G;
      // ||g||^2 = 2G; ||K|| <= (||A|| ||U||)^2; rounding of g^T K g and lambda_min ||g||^2.
      const double K_norm = std::pow(c->op_norm * Eigen::JacobiSVD<Matrix>(U).singularValues()[0], 2);
      v.error_bound = 16.0 * kEps * static_cast<double>(c->shape.m + c->shape.d * c->shape.p) * K_norm *
                      2.0 * G * (1.0 + factor);
      return v;
    };
    std::vector<Sampler> samplers;
    const double scale = c->planted_factor.norm() / std::sqrt(static_cast<double>(n));
    samplers.push_back({"gaussian", [s, scale](Rng& rng) {
                          Matrix U = rng.normal_matrix(s.d, s.p) * scale * std::pow(10.0, 2.0 * rng.uniform() - 1.0);
                          return Vector(Eigen::Map<const Vector>(U.data(), U.size()));
                        }});
    samplers.push_back({"near_M_b", [c, s, scale](Rng& rng) {
                          const Matrix Q = random_orthogonal(s.p, rng);
                          Matrix U = c->planted_factor * Q +
                                     std::pow(10.0, -6.0 + 5.5 * rng.uniform()) * scale * rng.normal_matrix(s.d, s.p);
                          return Vector(Eigen::Map<const Vector>(U.data(), U.size()));
                        }});
    samplers.push_back({"low_rank", [s, scale](Rng& rng) {
                          Matrix U = rng.normal_matrix(s.d, 1) * rng.normal_matrix(1, s.p) * scale *
                                     std::pow(10.0, 2.0 * rng.uniform() - 1.0);
                          return Vector(Eigen::Map<const Vector>(U.data(), U.size()));
                        }});
    samplers.push_back({"near_origin", [s, scale](Rng& rng) {
                          Matrix U = rng.normal_matrix(s.d, s.p) * scale * std::pow(10.0, -4.0 + 2.0 * rng.uniform());
                          return Vector(Eigen::Map<const Vector>(U.data(), U.size()));
                        }});
    // Adversarial: near M_b along the right singular vector of Dg(U♮Q) for sigma_m, where the
    // residual g ~ Dg[eps N] is (to first order) the bottom left singular vector and (12) is tight.
    samplers.push_back({"near_M_b_worst_direction", [c, s, scale](Rng& rng) {
                          const Matrix U0 = c->planted_factor * random_orthogonal(s.p, rng);
                          Matrix J(s.m, s.d * s.p);
                          for (Index i = 0; i < s.m; ++i) {
                            Vector e = Vector::Zero(s.m);
                            e[i] = 1.0;
                            const Matrix row = dg_adjoint(*c->op, U0, e);  // Dg(U0)^*[e_i] = A^*(e_i) U0
                            J.row(i) = Eigen::Map<const Vector>(row.data(), row.size()).transpose();
                          }
                          Eigen::JacobiSVD<Matrix> svd(J, Eigen::ComputeFullV);
                          const Vector dir = svd.matrixV().col(s.m - 1);
                          Matrix U = U0 + std::pow(10.0, -6.0 + 5.0 * rng.uniform()) * scale *
                                              std::sqrt(static_cast<double>(s.d * s.p)) *
                                              Eigen::Map<const Matrix>(dir.data(), s.d, s.p);
                          return Vector(Eigen::Map<const Vector>(U.data(), U.size()));
                        }});
    InequalityFamily family{"d=" + std::to_string(s.d) + " p=" + std::to_string(s.p) +
                                " m=" + std::to_string(s.m) + " rank(X)=" + std::to_string(s.r),
                            n, evaluate, samplers, {}};
    // Local searches move on the scale of the distance to M_b (bracketed below by
    // ||r|| / (||A|| 2||U||)), not of ||U||: near M_b is where (12) is tightest.
    family.local_scale = [c](const Vector& x) {
      const Matrix U = Eigen::Map<const Matrix>(x.data(), c->shape.d, c->shape.p);
      const SensingLoss loss(c->problem, loss_constant::paper000);
      const double r = loss.residual(U).norm();
      const double u = Eigen::JacobiSVD<Matrix>(U).singularValues()[0];
      return std::max(0.5 * r / (c->op_norm * 2.0 * std::max(u, 1e-300)), 1e-6 * U.norm());
    };
    families.push_back(std::move(family));
  }
  const SearchResult r = search_inequality(families, options.search);

  ProbeReport rep;
  rep.claim.name = "PL inequality (12) (paper 000)";
  rep.claim.statement =
      "If the compact set M_b satisfies Assumption 3.1(ii), there exists mu > 0 such that (1/2)||grad G(U)||_F^2 "
      "= (1/2)||Dg(U)^*[g(U)]||_F^2 >= (mu/2)||g(U)||_2^2 = mu G(U) for every U in an open neighbourhood of M_b, "
      "with g(U) = (A(UU^T) - b)/2, G(U) = (1/8)||A(UU^T) - b||^2, Dg(U)[Delta] = A(Delta U^T) (10), "
      "Dg(U)^*[delta] = A^*(delta) U (11). Checked in the pointwise form that the chain-rule step of (12) uses: "
      "(1/2)||grad G(U)||_F^2 >= sigma_m(Dg(U))^2 G(U) for every U (m <= dp), which gives (12) on "
      "{dist(U, M_b) <= rho_0} with mu = sigma_m(M_b)^2/4 by Proposition A.3 (21)-(22).";
  rep.claim.source = "Eftekhari & Zygalakis, Appendix A, eq. (12), with Proposition A.3, eqs. (16), (21)-(22)";
  rep.inequality = "(1/2)||grad G(U)||_F^2 >= sigma_m(Dg(U))^2 G(U)";
  rep.lhs_name = "(1/2)||grad G||^2";
  rep.rhs_name = (options.constant_factor == 1.0 ? "" : format_significant(options.constant_factor) + " * ") +
                 "sigma_m(Dg)^2 G";
  rep.family_notes = family_notes;
  rep.hypotheses.push_back(
      {"m <= dk - k(k-1)/2, k = min(d, p) (so that sigma_m(Dg(U)) can be positive)", HypothesisStatus::met,
       "every shape satisfies it; the planted rank r has m <= dr - r(r-1)/2, so LICQ holds at the planted factor"});
  rep.hypotheses.push_back(
      {"U in an open neighbourhood of M_b", HypothesisStatus::met,
       "not needed for the pointwise form, which is checked at every U (near M_b, far, low rank, near the origin)"});
  rep.witnesses = [cases](std::size_t f, const Vector& x) {
    const auto& c = *cases[f];
    return std::vector<Witness>{
        {"U", Eigen::Map<const Matrix>(x.data(), c.shape.d, c.shape.p), "the factor U (d x p)"},
        {"A_packed", c.op->packed_rows(), "the operator (unit scale): row i = vech(A_i)"},
        {"b", Matrix(c.problem.b), "the data b = A(X♮) (m x 1)"},
        {"X_planted", c.problem.planted, "X♮"}};
  };
  rep.notes.push_back(
      "(12) asserts only that SOME mu > 0 works on SOME neighbourhood; that form cannot fail at a single point. "
      "The pointwise form with mu(U) = sigma_m(Dg(U))^2 is what the proof uses (chain rule, then the smallest "
      "singular value of Dg(U)^* on R^m); its inf over {dist(U, M_b) <= rho_0} is >= sigma_m(M_b)^2/4 by (21).");
  rep.notes.push_back(
      "The range of Dg(U), Delta -> A(Delta U^T) = A(sym(Delta U^T)), has dimension at most d k - k(k-1)/2 for "
      "rank(U) = k (Delta = U Omega, Omega skew, gives a skew Delta U^T). So sigma_m(Dg(U)) = 0 at every U of rank k "
      "with m > dk - k(k-1)/2: at the planted factor of X♮ of rank r this happens as soon as m > dr - r(r-1)/2, "
      "which Assumption 3.1(i) (m/d <= rank(X♮)) does not exclude (e.g. d = p = r = 2, m = 4). The shapes here "
      "keep m <= dr - r(r-1)/2 so that (12) is tight near M_b and the planted variant is findable.");
  rep.notes.push_back("sigma_m(Dg(U)) comes from analysis/licq.hpp (lambda_min of K = Dg Dg^*), grad G from "
                      "SensingLoss with c = 1/4: two independent code paths.");
  rep.setup["probe"] = "pl_inequality";
  rep.setup["loss_constant"] = loss_constant::paper000;
  for (std::size_t i = 0; i < shapes.size(); ++i)
    rep.setup["shapes"].push_back({shapes[i].d, shapes[i].p, shapes[i].m, shapes[i].r});
  return verdict_from_search(r, options, std::move(rep));
}

// --------------------------------------------------------------------------
// Lemma 5.1 of paper 003.

namespace {

enum class EKind { reflection, low_rank };

struct L51Instance {
  Index d = 0, r = 0, s = 0;
  Vector lambda;   ///< eigenvalues of Z* (r), descending, lambda_1 = 1
  double kappa = 0, tau = 0, delta = 0, delta_max = 0;
  Matrix E;        ///< D x D symmetric, ||E|| = delta
  Matrix X;        ///< d x r, X = [sqrt(lambda_1) e_1, ...]
};

/// x -> instance. Layout: [gaps (r), E parameters, theta (1)].
struct L51Layout {
  Lemma51Shape shape;
  EKind kind;
  Index D() const { return packed_size(shape.d); }
  Index e_size() const { return kind == EKind::reflection ? D() : 2 * D() + 2; }
  Index size() const { return shape.r_star + e_size() + 1; }

  L51Instance instance(const Vector& x) const {
    L51Instance in;
    in.d = shape.d;
    in.r = shape.r_star;
    in.s = shape.s;
    const Index r = in.r;
    // lambda_r = g_0, lambda_k = lambda_{k+1} + g_k: strictly decreasing, distinct.
    Vector g(r);
    for (Index i = 0; i < r; ++i) g[i] = std::exp(std::clamp(x[i], -1.5, 1.5));
    in.lambda.resize(r);
    in.lambda[r - 1] = g[0];
    for (Index k = r - 2; k >= 0; --k) in.lambda[k] = in.lambda[k + 1] + g[r - 1 - k];
    in.lambda /= in.lambda[0];
    in.tau = in.lambda[r - 1];
    for (Index k = 0; k + 1 < r; ++k) in.tau = std::min(in.tau, in.lambda[k] - in.lambda[k + 1]);
    in.kappa = in.lambda[0] / in.tau;
    in.delta_max = 1e-7 / (std::pow(in.kappa, 4) * static_cast<double>(r));
    const double theta = 0.01 + 0.99 / (1.0 + std::exp(-x[x.size() - 1]));
    in.delta = theta * in.delta_max;
    in.X = Matrix::Zero(in.d, r);
    for (Index k = 0; k < r; ++k) in.X(k, k) = std::sqrt(in.lambda[k]);

    const Index D = this->D();
    const Vector e = x.segment(r, e_size());
    Matrix H;
    if (kind == EKind::reflection) {
      // H maps w_hat = vech(Z* - X_s X_s^T)/norm to e_hat: a reflection, eigenvalues +-1.
      Matrix W = Matrix::Zero(in.d, in.d);
      for (Index k = in.s; k < r; ++k) W(k, k) = in.lambda[k];
      Vector w;
      pack_symmetric(W, w);
      const Vector wh = w / w.norm();
      const double en = e.norm();
      const Vector eh = en > 0 ? Vector(e / en) : wh;
      const Vector h = wh - eh;
      H = Matrix::Identity(D, D);
      if (h.norm() > 1e-12) H -= 2.0 * h * h.transpose() / h.squaredNorm();
    } else {
      const Vector w1 = e.segment(0, D), w2 = e.segment(D, D);
      H = e[2 * D] * w1 * w1.transpose() + e[2 * D + 1] * w2 * w2.transpose();
      H = 0.5 * (H + H.transpose());
      const Vector ev = Eigen::SelfAdjointEigenSolver<Matrix>(H, Eigen::EigenvaluesOnly).eigenvalues();
      const double nrm = std::max(std::fabs(ev[0]), std::fabs(ev[D - 1]));
      if (nrm > 0)
        H /= nrm;
      else
        H = Matrix::Identity(D, D);
    }
    in.E = in.delta * H;
    return in;
  }
};

struct L51Solution {
  Matrix Delta;         ///< U*_s = X_s + Delta
  double gradient = 0;  ///< ||grad f_s|| at the end
  double curvature = 0; ///< smallest Hessian eigenvalue above the rotation null space
  double negative = 0;  ///< most negative Hessian eigenvalue (should be ~0)
  bool converged = false;
  int iterations = 0;
};

/// Newton's method for f_s(U) = (1/4) vech(UU^T - Z*)^T (I + E) vech(UU^T - Z*) from U = X_s,
/// in the form U = X_s + Delta: X_s is exact and (X_s X_s^T - Z*) X_s = 0 exactly, so the
/// O(delta) shift is computed without cancellation against O(1) terms.
L51Solution solve_l51(const L51Instance& in) {
  const Index d = in.d, s = in.s, n = d * s;
  const Matrix Xs = in.X.leftCols(s);
  Matrix Zstar = in.X * in.X.transpose();
  Matrix C0 = Xs * Xs.transpose() - Zstar;  // exact: -diag(0.., lambda_{s+1}.., 0..)
  for (Index k = 0; k < d; ++k)
    for (Index j = 0; j < d; ++j)
      if (k != j) C0(k, j) = 0.0;
  const Matrix Q = Matrix::Identity(packed_size(d), packed_size(d)) + in.E;
  auto apply_Q = [&](const Matrix& S) {  // unvech(Q vech(S))
    Vector v;
    pack_symmetric(S, v);
    Matrix out;
    unpack_symmetric(Q * v, d, out);
    return out;
  };
  L51Solution sol;
  sol.Delta = Matrix::Zero(d, s);
  Matrix H(n, n);
  double last_step = std::numeric_limits<double>::infinity();
  for (int it = 0; it < 12; ++it) {
    const Matrix U = Xs + sol.Delta;
    const Matrix diff =
        C0 + Xs * sol.Delta.transpose() + sol.Delta * Xs.transpose() + sol.Delta * sol.Delta.transpose();
    const Matrix S = apply_Q(diff);
    const Matrix grad = S * U;
    sol.gradient = grad.norm();
    for (Index j = 0; j < n; ++j) {
      Matrix V = Matrix::Zero(d, s);
      V(j % d, j / d) = 1.0;
      const Matrix HV = apply_Q(U * V.transpose() + V * U.transpose()) * U + S * V;
      H.col(j) = Eigen::Map<const Vector>(HV.data(), n);
    }
    H = 0.5 * (H + H.transpose());
    Eigen::SelfAdjointEigenSolver<Matrix> eig(H);
    const double top = std::max(std::fabs(eig.eigenvalues()[0]), std::fabs(eig.eigenvalues()[n - 1]));
    const double cut = 1e-9 * top;
    sol.curvature = std::numeric_limits<double>::infinity();
    sol.negative = 0.0;
    for (Index k = 0; k < n; ++k) {
      const double mu = eig.eigenvalues()[k];
      if (mu > cut) sol.curvature = std::min(sol.curvature, mu);
      if (mu < -cut) sol.negative = std::min(sol.negative, mu);
    }
    sol.iterations = it;
    // Quadratic convergence: once a step is below 1e-9 of the shift (or exactly zero),
    // the current iterate is accurate to rounding.
    if (last_step <= 1e-9 * sol.Delta.norm() || sol.gradient == 0.0) {
      sol.converged = true;
      break;
    }
    const Vector g = Eigen::Map<const Vector>(grad.data(), n);
    Vector step = Vector::Zero(n);
    for (Index k = 0; k < n; ++k) {
      const double mu = eig.eigenvalues()[k];
      if (std::fabs(mu) > cut) step -= eig.eigenvectors().col(k) * (eig.eigenvectors().col(k).dot(g) / mu);
    }
    const Matrix dD = Eigen::Map<const Matrix>(step.data(), d, s);
    sol.Delta += dD;
    last_step = dD.norm();
  }
  return sol;
}

/// dist(U*_s, X_s) computed as ||X_s (I - R) + Delta||_F with R the optimal rotation,
/// and ||Z*_s - X_s X_s^T||_F = ||X_s Delta^T + Delta X_s^T + Delta Delta^T||_F.
std::pair<double, double> l51_sides(const L51Instance& in, const Matrix& Delta) {
  const Matrix Xs = in.X.leftCols(in.s);
  const Matrix U = Xs + Delta;
  const Procrustes pr = procrustes(U, Xs);
  const Matrix I = Matrix::Identity(in.s, in.s);
  const double dist = (Xs * (I - pr.rotation) + Delta).norm();
  const double zgap = (Xs * Delta.transpose() + Delta * Xs.transpose() + Delta * Delta.transpose()).norm();
  return {dist, zgap};
}

std::string l51_name(const Lemma51Shape& s, EKind k) {
  return "d=" + std::to_string(s.d) + " r*=" + std::to_string(s.r_star) + " s=" + std::to_string(s.s) +
         (k == EKind::reflection ? " E=reflection" : " E=rank-2");
}

}  // namespace

Verdict probe_lemma_5_1(const ProbeOptions& options, const std::vector<Lemma51Shape>& shapes) {
  if (auto e = options.validate(); !e.empty()) throw std::invalid_argument("probe_lemma_5_1(): " + e);
  if (shapes.empty()) throw std::invalid_argument("probe_lemma_5_1(): expected at least one shape");
  std::vector<L51Layout> layouts;
  for (const auto& s : shapes) {
    if (s.r_star < 1 || s.s < 1 || s.s >= s.r_star || s.d < s.r_star)
      throw std::invalid_argument("probe_lemma_5_1(): shape d=" + std::to_string(s.d) + " r*=" +
                                  std::to_string(s.r_star) + " s=" + std::to_string(s.s) +
                                  " needs 1 <= s < r* <= d (for s = r*, U*_s = X exactly)");
    for (EKind k : {EKind::reflection, EKind::low_rank}) layouts.push_back({s, k});
  }
  const double factor = options.constant_factor;
  // part 0: dist bound, part 1: Z gap bound.
  auto make_families = [&](int part) {
    std::vector<InequalityFamily> fam;
    for (const auto& L : layouts) {
      auto evaluate = [L, factor, part](const Vector& x) {
        const L51Instance in = L.instance(x);
        const L51Solution sol = solve_l51(in);
        InequalityValue v;
        if (!sol.converged || sol.negative < 0 || !std::isfinite(sol.curvature)) {
          v.admissible = false;
          v.reason = "Newton did not reach a nondegenerate local minimum";
          return v;
        }
        const auto [dist, zgap] = l51_sides(in, sol.Delta);
        const double xf = std::sqrt(in.lambda.sum());  // ||X||_F; ||X|| = 1
        // Error of dist: the Newton residual ||grad|| / curvature plus rounding of X_s (I - R).
        const double dist_err = sol.gradient / sol.curvature + 64.0 * kEps * (1.0 + sol.Delta.norm());
        if (part == 0) {
          v.lhs = 40.0 * in.delta * in.kappa * xf / factor;
          v.rhs = dist;
          v.error_bound = dist_err;
        } else {
          v.lhs = 80.0 * in.delta * in.kappa * std::sqrt(static_cast<double>(in.r)) / factor;
          v.rhs = zgap;
          v.error_bound = 3.0 * dist_err;
        }
        return v;
      };
      std::vector<Sampler> samplers;
      const Index r = L.shape.r_star, es = L.e_size(), n = L.size();
      samplers.push_back({"random", [r, es, n](Rng& rng) {
                            Vector x(n);
                            x.head(r) = uniform_vector(r, rng, -1.5, 1.5);
                            for (Index i = 0; i < es; ++i) x[r + i] = rng.normal();
                            x[n - 1] = 4.0 * rng.uniform() - 2.0;
                            return x;
                          }});
      samplers.push_back({"small_gap", [r, es, n](Rng& rng) {
                            Vector x(n);
                            x.head(r) = uniform_vector(r, rng, -1.5, 1.5);
                            x[static_cast<Index>(rng.uniform() * static_cast<double>(r))] = -1.5;
                            for (Index i = 0; i < es; ++i) x[r + i] = rng.normal();
                            x[n - 1] = 3.0;
                            return x;
                          }});
      fam.push_back({l51_name(L.shape, L.kind) + (part == 0 ? " [dist]" : " [Z gap]"), n, evaluate, samplers});
    }
    return fam;
  };
  SearchOptions o0 = options.search, o1 = options.search;
  o1.seed = Rng::derive_seed(options.search.seed, 0x51B);
  const SearchResult r0 = search_inequality(make_families(0), o0);
  const SearchResult r1 = search_inequality(make_families(1), o1);
  SearchResult r = r0;
  for (const auto& f : r1.families) r.families.push_back(f);

  ProbeReport rep;
  rep.claim.name = "Lemma 5.1 (paper 003)";
  rep.claim.statement =
      "Under Assumption 3.1 of paper 003 (A satisfies the (2r*+1, delta)-RIP: (1-delta)||Z||_F^2 <= ||A(Z)||_2^2 "
      "<= (1+delta)||Z||_F^2 for all Z of rank <= 2r*+1, with delta <= 1e-7 kappa^-4 r*^-1): dist(U*_s, X_s) <= "
      "40 delta kappa ||X||_F for any global minimizer U*_s of f_s(U) = (1/4)||A(Z* - UU^T)||_2^2, U in R^{d x s}. "
      "Moreover ||Z*_s - X_s X_s^T||_F <= 80 delta kappa sqrt(r*) ||X||^2. Here Z* = XX^T, X = [v_1 .. v_r*] "
      "with orthogonal columns and singular values sigma_1 > ... > sigma_r* > 0, X_s = [v_1 .. v_s], "
      "kappa = sigma_1^2 / min_{1<=s<=r*}(sigma_s^2 - sigma_{s+1}^2) with sigma_{r*+1} = 0, dist(U_1, U_2) = "
      "min_{R orthogonal} ||U_1 - U_2 R||_F (Def. 5.1), Z*_s = U*_s U*_s^T (Def. 1.1), [A(Z)]_i = <A_i, Z>/sqrt(m).";
  rep.claim.source = "paper 003 (incremental learning), Section 5, Lemma 5.1; proof: Appendix E, Lemma E.5 and "
                     "the proof of Proposition F.1";
  rep.inequality = "40 delta kappa ||X||_F >= dist(U*_s, X_s)  and  80 delta kappa sqrt(r*) ||X||^2 >= "
                   "||Z*_s - X_s X_s^T||_F";
  rep.lhs_name = std::string("claimed bound") + (factor == 1.0 ? std::string() : " / " + format_significant(factor));
  rep.rhs_name = "dist(U*_s, X_s) or ||Z*_s - X_sX_s^T||_F";
  rep.ratio_panel = true;
  rep.hypotheses.push_back(
      {"(2r*+1, delta)-RIP with delta <= 1e-7 kappa^-4 / r*", HypothesisStatus::met,
       "by construction: A^*A = I + E on packed coordinates with ||E|| = delta <= 1e-7 kappa^-4/r*, so "
       "(1 +- delta) are attained and, with d = 2r*+1, every symmetric Z has rank <= 2r*+1: delta is the exact RIP "
       "constant (on symmetric Z; A kills the skew part of a non-symmetric Z, so 003's RIP must mean symmetric Z)"});
  rep.hypotheses.push_back({"distinct singular values sigma_1 > ... > sigma_r* > 0", HypothesisStatus::met,
                            "gaps exp(x) with x in [-1.5, 1.5], normalized to ||X|| = 1"});
  rep.hypotheses.push_back(
      {"U*_s is a global minimizer of f_s", HypothesisStatus::unverified,
       "U*_s is Newton's limit from X_s: gradient ~1e-16 and positive curvature across rotations are checked at "
       "every point (a strict local minimum); global optimality is cross-checked at the reported point with the "
       "independent multi-start solver analysis/best_rank.hpp (evidence below)"});
  const std::vector<L51Layout> all_layouts = [&] {
    std::vector<L51Layout> v = layouts;
    v.insert(v.end(), layouts.begin(), layouts.end());
    return v;
  }();
  rep.witnesses = [all_layouts](std::size_t f, const Vector& x) {
    const L51Instance in = all_layouts[f].instance(x);
    const L51Solution sol = solve_l51(in);
    const Index D = packed_size(in.d);
    Eigen::SelfAdjointEigenSolver<Matrix> eig(Matrix::Identity(D, D) + in.E);
    const Matrix M = eig.eigenvectors() * eig.eigenvalues().cwiseSqrt().asDiagonal() * eig.eigenvectors().transpose();
    return std::vector<Witness>{
        {"X", in.X, "X (d x r*), Z* = X X^T; ||X|| = 1"},
        {"A_packed", M, "the operator on packed coordinates: A(Z) = M vech(Z), M = (I + E)^{1/2}, m = D"},
        {"E", in.E, "E = A^*A - I on packed coordinates, ||E|| = delta"},
        {"U_star_s", in.X.leftCols(in.s) + sol.Delta, "U*_s (d x s), Newton from X_s"}};
  };
  rep.notes.push_back(
      "WLOG X = [sigma_1 e_1, ..., sigma_r* e_r*]: conjugating A by an orthogonal change of basis preserves the RIP "
      "constant, so the basis of X is absorbed into the (searched) operator. This makes (X_s X_s^T - Z*) X_s = 0 "
      "exact in floating point, so the O(delta) shift of U*_s is computed without cancellation.");
  rep.notes.push_back(
      "The reflection family steers the first-order shift: grad f_s(X_s) = -unvech(E w) X_s with w = vech(Z* - "
      "X_s X_s^T), and delta * (reflection w/|w| -> e) realizes any E w of norm delta |w|.");
  rep.notes.push_back("In the proof of Proposition F.1 the second bound reads 80 delta kappa ||X||_F^2 (>= the "
                      "statement's 80 delta kappa sqrt(r*) ||X||^2 only when ||X||_F^2 >= sqrt(r*) ||X||^2); "
                      "the probe checks the statement of Lemma 5.1.");
  rep.setup["probe"] = "lemma_5_1";
  for (const auto& s : shapes) rep.setup["shapes"].push_back({s.d, s.r_star, s.s});
  Verdict v = verdict_from_search(r, options, std::move(rep));

  // Certificate at the reported point: Newton's numbers and an independent solver.
  std::size_t w = r.worst();
  if (v.status == VerdictStatus::violated)
    for (std::size_t i = 0; i < r.families.size(); ++i)
      if (r.families[i].violated) w = i;
  const L51Layout& L = all_layouts[w];
  const L51Instance in = L.instance(r.families[w].argmin);
  const L51Solution sol = solve_l51(in);
  v.add("delta_at_min", in.delta, "the exact RIP constant of the operator at the reported point");
  v.add("delta_max_at_min", in.delta_max, "1e-7 kappa^-4 / r*, the hypothesis' bound");
  v.add("kappa_at_min", in.kappa, "sigma_1^2 / min gap");
  v.add("newton_gradient_at_min", sol.gradient, "||grad f_s(U*_s)||_F after Newton");
  v.add("newton_curvature_at_min", sol.curvature, "smallest Hessian eigenvalue across rotations (> 0: strict local min)");
  {
    const Index D = packed_size(in.d);
    Eigen::SelfAdjointEigenSolver<Matrix> eig(Matrix::Identity(D, D) + in.E);
    Matrix M = eig.eigenvectors() * eig.eigenvalues().cwiseSqrt().asDiagonal() * eig.eigenvectors().transpose();
    // M already includes the 1/sqrt(m) convention: A(Z) = M vech(Z).
    auto op = std::make_shared<GaussianOperator>(in.d, M, GaussianScale::inv_sqrt_m);
    const Problem problem = Problem::noiseless(op, in.X * in.X.transpose());
    const SensingLoss loss(problem, loss_constant::paper003);
    BestRankOptions bo;
    bo.seed = options.search.seed;
    const BestRankSolution other = best_rank_solution(loss, static_cast<int>(in.s), bo);
    const Matrix mine = (in.X.leftCols(in.s) + sol.Delta) * (in.X.leftCols(in.s) + sol.Delta).transpose();
    const double value_mine = loss.value(in.X.leftCols(in.s) + sol.Delta);
    v.add("independent_solver_value_minus_newton", other.value - value_mine,
          "analysis/best_rank.hpp (L-BFGS + Newton-CG, " + std::to_string(other.starts) +
              " starts) minus Newton's f_s: >= -rounding means no better minimizer was found");
    v.add("independent_solver_Z_gap", (other.Z - mine).norm(),
          "||Z*_s(independent) - Z*_s(Newton)||_F; compare with the bound on the left side");
    v.add("independent_solver_value_spread", other.value_spread, "spread of f_s over its starts");
  }
  return v;
}

}  // namespace flowsense
