#pragma once
// The stock metrics of a run. Column names are stable: plots, configs and
// the Python side refer to them.
#include <memory>

#include "flowsense/observe/metric.hpp"

namespace flowsense {

/// "t": flow time.
struct TimeMetric : Metric {
  std::vector<std::string> columns() const override { return {"t"}; }
  void measure(Observation& o, std::vector<double>& row) const override { row.push_back(o.info().t); }
};

/// "iteration": the GD-equivalent iteration t / h_GD.
struct IterationMetric : Metric {
  std::vector<std::string> columns() const override { return {"iteration"}; }
  void measure(Observation& o, std::vector<double>& row) const override {
    row.push_back(o.gd_iteration());
  }
};

/// "step_size": the last accepted step; "steps", "rejected", "rhs_evaluations".
struct StepperStatsMetric : Metric {
  std::vector<std::string> columns() const override {
    return {"step_size", "steps", "rejected", "rhs_evaluations"};
  }
  void measure(Observation& o, std::vector<double>& row) const override;
};

/// "training_error": ||A(UU^T) - b||^2.
struct TrainingErrorMetric : Metric {
  std::vector<std::string> columns() const override { return {"training_error"}; }
  void measure(Observation& o, std::vector<double>& row) const override {
    row.push_back(o.training_error());
  }
};

/// "test_error": ||UU^T - X♮||_F^2.
class TestErrorMetric : public Metric {
public:
  explicit TestErrorMetric(Matrix planted) : planted_(std::move(planted)) {}
  std::vector<std::string> columns() const override { return {"test_error"}; }
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  Matrix planted_;
};

/// "rank": the number of singular values of U above rel_tol * sigma_1(U).
class RankMetric : public Metric {
public:
  explicit RankMetric(double rel_tol = 1e-8) : rel_tol_(rel_tol) {}
  std::vector<std::string> columns() const override { return {"rank"}; }
  void measure(Observation& o, std::vector<double>& row) const override;
  double tolerance() const { return rel_tol_; }

private:
  double rel_tol_;
};

/// "sigma_1" .. "sigma_k": the k leading singular values of U (0 past its width).
class SingularValuesMetric : public Metric {
public:
  explicit SingularValuesMetric(int k) : k_(k) {}
  std::vector<std::string> columns() const override;
  void measure(Observation& o, std::vector<double>& row) const override;

private:
  int k_;
};

/// Numerical rank of a spectrum (descending, nonnegative) at a relative tolerance.
Index numerical_rank(const Vector& singular_values, double rel_tol);

}  // namespace flowsense
