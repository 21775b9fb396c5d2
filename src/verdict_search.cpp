#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "flowsense/verdict/search.hpp"

namespace flowsense {

double relative_slack(const InequalityValue& v) {
  if (!std::isfinite(v.lhs) || !std::isfinite(v.rhs)) return std::numeric_limits<double>::quiet_NaN();
  const double scale = std::max(std::fabs(v.lhs), std::fabs(v.rhs));
  if (scale == 0) return 0.0;
  return (v.lhs - v.rhs) / scale;
}

std::string SearchOptions::validate() const {
  if (random_points <= 0) return "random_points must be > 0, got " + std::to_string(random_points);
  if (local_starts < 0) return "local_starts must be >= 0, got " + std::to_string(local_starts);
  if (local_evaluations < 0)
    return "local_evaluations must be >= 0, got " + std::to_string(local_evaluations);
  if (!(tolerance >= 0) || !std::isfinite(tolerance))
    return "tolerance must be finite and >= 0, got " + std::to_string(tolerance);
  return {};
}

std::size_t SearchResult::worst() const {
  std::size_t w = 0;
  for (std::size_t i = 1; i < families.size(); ++i)
    if (families[i].min_slack < families[w].min_slack) w = i;
  return w;
}
std::uint64_t SearchResult::tried() const {
  std::uint64_t n = 0;
  for (const auto& f : families) n += f.tried;
  return n;
}
std::uint64_t SearchResult::admissible() const {
  std::uint64_t n = 0;
  for (const auto& f : families) n += f.admissible;
  return n;
}
std::uint64_t SearchResult::violations() const {
  std::uint64_t n = 0;
  for (const auto& f : families) n += f.violations;
  return n;
}
bool SearchResult::violated() const {
  for (const auto& f : families)
    if (f.violated) return true;
  return false;
}

Vector nelder_mead(const std::function<double(const Vector&)>& f, const Vector& x0, double scale,
                   int max_evaluations, double* best_value) {
  const Index n = x0.size();
  auto eval = [&](const Vector& x, int& count) {
    ++count;
    const double v = f(x);
    return std::isfinite(v) ? v : std::numeric_limits<double>::infinity();
  };
  int count = 0;
  Vector best = x0;
  double fbest = eval(x0, count);
  if (n == 0 || max_evaluations <= 1) {
    if (best_value) *best_value = fbest;
    return best;
  }
  // Gao & Han (2012): coefficients that keep the method effective in higher dimension.
  const double dn = static_cast<double>(n);
  const double alpha = 1.0, beta = 1.0 + 2.0 / dn, gamma = 0.75 - 1.0 / (2.0 * dn),
               delta = 1.0 - 1.0 / dn;
  double edge = scale > 0 ? scale : 0.1;
  while (count < max_evaluations) {
    std::vector<Vector> x(n + 1, best);
    std::vector<double> fx(n + 1, fbest);
    for (Index i = 0; i < n && count < max_evaluations; ++i) {
      x[i + 1][i] += edge;
      fx[i + 1] = eval(x[i + 1], count);
    }
    std::vector<Index> order(n + 1);
    bool collapsed = false;
    while (count < max_evaluations) {
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](Index a, Index b) { return fx[a] < fx[b]; });
      const Index lo = order.front(), hi = order.back(), second = order[n - 1];
      // Collapsed: values and points agree to rounding; restart around the best.
      double diameter = 0;
      for (Index i = 0; i <= n; ++i) diameter = std::max(diameter, (x[i] - x[lo]).norm());
      if (diameter <= 1e-13 * (1.0 + x[lo].norm()) ||
          (std::isfinite(fx[hi]) && fx[hi] - fx[lo] <= 1e-15 * (1.0 + std::fabs(fx[lo])) &&
           diameter <= 1e-9 * (1.0 + x[lo].norm()))) {
        collapsed = true;
        break;
      }
      Vector centroid = Vector::Zero(n);
      for (Index i = 0; i <= n; ++i)
        if (i != hi) centroid += x[i];
      centroid /= dn;
      const Vector xr = centroid + alpha * (centroid - x[hi]);
      const double fr = eval(xr, count);
      if (fr < fx[lo]) {
        const Vector xe = centroid + beta * (xr - centroid);
        const double fe = eval(xe, count);
        if (fe < fr) {
          x[hi] = xe;
          fx[hi] = fe;
        } else {
          x[hi] = xr;
          fx[hi] = fr;
        }
      } else if (fr < fx[second]) {
        x[hi] = xr;
        fx[hi] = fr;
      } else {
        const bool outside = fr < fx[hi];
        const Vector xc = outside ? Vector(centroid + gamma * (xr - centroid))
                                  : Vector(centroid + gamma * (x[hi] - centroid));
        const double fc = eval(xc, count);
        if (fc < (outside ? fr : fx[hi])) {
          x[hi] = xc;
          fx[hi] = fc;
        } else {
          for (Index i = 0; i <= n && count < max_evaluations; ++i) {
            if (i == lo) continue;
            x[i] = x[lo] + delta * (x[i] - x[lo]);
            fx[i] = eval(x[i], count);
          }
        }
      }
    }
    for (Index i = 0; i <= n; ++i)
      if (fx[i] < fbest) {
        fbest = fx[i];
        best = x[i];
      }
    // A fresh simplex of the original size around the best point (escapes a simplex
    // that degenerated in a valley); shrink it if it collapsed without progress.
    edge = collapsed ? std::max(edge * 0.5, 1e-8 * (1.0 + best.norm())) : edge;
  }
  if (best_value) *best_value = fbest;
  return best;
}

namespace {

constexpr std::size_t kMaxScatter = 1500;

struct Candidate {
  double slack;
  Vector x;
  std::string sampler;
};

bool is_violation(const InequalityValue& v, double tolerance) {
  const double s = relative_slack(v);
  return v.admissible && std::isfinite(s) && s < -tolerance && (v.lhs - v.rhs) < -v.error_bound;
}

}  // namespace

SearchResult search_inequality(const std::vector<InequalityFamily>& families,
                               const SearchOptions& options) {
  if (auto e = options.validate(); !e.empty())
    throw std::invalid_argument("search_inequality(): " + e);
  SearchResult result;
  result.options = options;
  std::uint64_t stream = 0;
  for (const auto& family : families) {
    if (family.samplers.empty())
      throw std::invalid_argument("search_inequality(): family '" + family.name + "' has no samplers");
    if (!family.evaluate)
      throw std::invalid_argument("search_inequality(): family '" + family.name + "' has no evaluate");
    Rng rng(Rng::derive_seed(options.seed, stream++));
    FamilyResult fr;
    fr.family = family.name;

    auto consider = [&](const Vector& x, const InequalityValue& v, const std::string& origin,
                        bool random_phase) {
      ++fr.tried;
      if (!v.admissible) return;
      const double s = relative_slack(v);
      if (!std::isfinite(s)) return;
      ++fr.admissible;
      if (is_violation(v, options.tolerance)) ++fr.violations;
      if (s < fr.min_slack) {
        fr.min_slack = s;
        fr.argmin = x;
        fr.at_min = v;
        fr.found_by = origin;
      }
      fr.best_so_far.push_back(fr.min_slack);
      if (random_phase && fr.sample_sides.size() < kMaxScatter) fr.sample_sides.emplace_back(v.lhs, v.rhs);
    };

    // 1. Random phase.
    std::vector<Candidate> candidates;
    const int per_sampler =
        std::max(1, options.random_points / static_cast<int>(family.samplers.size()));
    for (const auto& sampler : family.samplers) {
      for (int k = 0; k < per_sampler; ++k) {
        Vector x = sampler.draw(rng);
        if (x.size() != family.dimension)
          throw std::invalid_argument("search_inequality(): sampler '" + sampler.name + "' of family '" +
                                      family.name + "' drew a vector of length " +
                                      std::to_string(x.size()) + ", expected " +
                                      std::to_string(family.dimension));
        const InequalityValue v = family.evaluate(x);
        consider(x, v, sampler.name, true);
        const double s = relative_slack(v);
        if (v.admissible && std::isfinite(s)) candidates.push_back({s, std::move(x), sampler.name});
      }
    }

    // 2. Local search from the best distinct starts.
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.slack < b.slack; });
    const std::size_t starts = std::min<std::size_t>(candidates.size(), options.local_starts);
    for (std::size_t k = 0; k < starts; ++k) {
      const Candidate& c = candidates[k];
      const std::string origin = "local search from " + c.sampler;
      auto objective = [&](const Vector& x) {
        const InequalityValue v = family.evaluate(x);
        consider(x, v, origin, false);
        const double s = relative_slack(v);
        return v.admissible && std::isfinite(s) ? s : std::numeric_limits<double>::infinity();
      };
      double scale = 0.1 * std::max(1.0, c.x.cwiseAbs().maxCoeff());
      if (family.local_scale) {
        const double own = family.local_scale(c.x);
        if (std::isfinite(own) && own > 0) scale = own;
      }
      nelder_mead(objective, c.x, scale, options.local_evaluations);
    }
    fr.violated = fr.admissible > 0 && is_violation(fr.at_min, options.tolerance);
    result.families.push_back(std::move(fr));
  }
  return result;
}

}  // namespace flowsense
