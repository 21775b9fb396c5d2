#include "flowsense/observe/metrics.hpp"

namespace flowsense {

void StepperStatsMetric::measure(Observation& o, std::vector<double>& row) const {
  const auto& i = o.info();
  row.push_back(i.h);
  row.push_back(static_cast<double>(i.steps));
  row.push_back(static_cast<double>(i.rejected));
  row.push_back(static_cast<double>(i.rhs));
}

void TestErrorMetric::measure(Observation& o, std::vector<double>& row) const {
  row.push_back((o.gram() - planted_).squaredNorm());
}

Index numerical_rank(const Vector& singular_values, double rel_tol) {
  if (singular_values.size() == 0) return 0;
  const double top = singular_values.maxCoeff();
  if (!(top > 0)) return 0;
  Index rank = 0;
  for (Index i = 0; i < singular_values.size(); ++i)
    if (singular_values[i] > rel_tol * top) ++rank;
  return rank;
}

void RankMetric::measure(Observation& o, std::vector<double>& row) const {
  row.push_back(static_cast<double>(numerical_rank(o.factor_singular_values(), rel_tol_)));
}

std::vector<std::string> SingularValuesMetric::columns() const {
  std::vector<std::string> c;
  for (int i = 1; i <= k_; ++i) c.push_back("sigma_" + std::to_string(i));
  return c;
}

void SingularValuesMetric::measure(Observation& o, std::vector<double>& row) const {
  const Vector& s = o.factor_singular_values();
  for (int i = 0; i < k_; ++i) row.push_back(i < s.size() ? s[i] : 0.0);
}

}  // namespace flowsense
