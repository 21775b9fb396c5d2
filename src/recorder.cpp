#include "flowsense/trajectory/recorder.hpp"

#include "flowsense/observe/metrics.hpp"

namespace flowsense {

Recorder::Recorder(SensingLoss loss, StateKind kind, std::vector<std::shared_ptr<Metric>> metrics,
                   double gd_step, SnapshotKind snapshots)
    : loss_(std::move(loss)), kind_(kind), metrics_(std::move(metrics)), gd_step_(gd_step),
      snapshots_(snapshots) {
  for (const auto& m : metrics_)
    for (auto& c : m->columns()) trajectory_.columns.push_back(std::move(c));
}

Observer Recorder::observer() {
  return [this](const Matrix& state, const StepInfo& info) { record(state, info); };
}

void Recorder::record(const Matrix& state, const StepInfo& info) {
  Observation o(state, kind_, info, loss_, gd_step_);
  std::vector<double> row;
  row.reserve(trajectory_.columns.size());
  for (const auto& m : metrics_) m->measure(o, row);
  trajectory_.rows.push_back(std::move(row));
  if (snapshots_ == SnapshotKind::factor && kind_ == StateKind::factor)
    trajectory_.snapshots.push_back({info.t, state});
  else if (snapshots_ != SnapshotKind::none)
    trajectory_.snapshots.push_back({info.t, o.gram()});
}

std::vector<std::shared_ptr<Metric>> standard_metrics(const Matrix* planted, double rank_tol,
                                                      int singular_values) {
  std::vector<std::shared_ptr<Metric>> m = {
      std::make_shared<TimeMetric>(), std::make_shared<IterationMetric>(),
      std::make_shared<StepperStatsMetric>(), std::make_shared<TrainingErrorMetric>()};
  if (planted) m.push_back(std::make_shared<TestErrorMetric>(*planted));
  m.push_back(std::make_shared<RankMetric>(rank_tol));
  if (singular_values > 0) m.push_back(std::make_shared<SingularValuesMetric>(singular_values));
  return m;
}

}  // namespace flowsense
