#include "flowsense/observe/theory_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/licq.hpp"
#include "flowsense/analysis/procrustes.hpp"

namespace flowsense {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

/// Eigenvalues (descending) and eigenvectors of X = U U^T; for a factor
/// state through the SVD of U (small eigenvalues accurate to eps * sigma_1).
void gram_eigen(Observation& o, Vector& values, Matrix& vectors) {
  const Matrix& s = o.state();
  const Index d = s.rows();
  if (o.kind() == StateKind::factor) {
    Eigen::JacobiSVD<Matrix> svd(s, Eigen::ComputeFullU);
    const Vector sv = svd.singularValues();
    values = Vector::Zero(d);
    values.head(sv.size()) = sv.cwiseProduct(sv);
    vectors = svd.matrixU();
  } else {
    Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (s + s.transpose()));
    values = eig.eigenvalues().reverse();
    vectors = eig.eigenvectors().rowwise().reverse();
  }
}

bool starts_new_run(bool has_previous, double t_previous, double t) {
  return !has_previous || !(t > t_previous);
}

}  // namespace

Matrix observed_factor(Observation& o, Index width) {
  const Matrix& s = o.state();
  if (o.kind() == StateKind::factor) {
    if (width <= 0 || width == s.cols()) return s;
    if (width > s.cols()) return pad_columns(s, width);
    // Narrower: the leading singular directions (exact if rank <= width).
    Eigen::JacobiSVD<Matrix> svd(s, Eigen::ComputeThinU);
    return svd.matrixU().leftCols(width) * svd.singularValues().head(width).asDiagonal();
  }
  return psd_factor(s, width > 0 ? width : s.rows());
}

// ------------------------------------------------------------ dist(U, M_b)

ManifoldDistanceMetric::ManifoldDistanceMetric(double op_norm, std::optional<double> xi, bool with_upper,
                                               ProjectionOptions projection, Index width)
    : op_norm_(op_norm), xi_(xi), with_upper_(with_upper), projection_(projection), width_(width) {
  if (!(op_norm > 0))
    throw std::invalid_argument("ManifoldDistanceMetric: expected ||A|| > 0, got " + std::to_string(op_norm));
  if (xi && !(*xi > 0))
    throw std::invalid_argument("ManifoldDistanceMetric: expected xi > 0, got " + std::to_string(*xi));
  if (auto p = projection_.validate(); !p.empty())
    throw std::invalid_argument("ManifoldDistanceMetric: projection." + p);
}

void ManifoldDistanceMetric::measure(Observation& o, std::vector<double>& row) const {
  const Matrix U = observed_factor(o, width_);
  if (!with_upper_) {
    const ManifoldDistanceBounds b = manifold_distance_lower(o.loss(), U, op_norm_, xi_);
    row.push_back(b.lower);
    row.push_back(nan);
    row.push_back(nan);
    return;
  }
  const ManifoldDistanceBounds b = manifold_distance_bounds(o.loss(), U, op_norm_, xi_, projection_);
  row.push_back(b.lower);
  row.push_back(b.upper);
  row.push_back(b.projection.residual);
}

// ------------------------------------------------------------ LICQ

void LicqMetric::measure(Observation& o, std::vector<double>& row) const {
  row.push_back(licq_margin_from_gram(o.loss().op(), o.gram(), options_).sigma_m);
}

// ------------------------------------------------------------ Z*_s

BestRankDistanceMetric::BestRankDistanceMetric(std::vector<Matrix> factors) : factors_(std::move(factors)) {
  if (factors_.empty()) throw std::invalid_argument("BestRankDistanceMetric: expected at least one factor");
  for (const auto& F : factors_) grams_.push_back(F * F.transpose());
}

std::vector<std::string> BestRankDistanceMetric::columns() const {
  std::vector<std::string> c;
  for (const auto& F : factors_) c.push_back("procrustes_s" + std::to_string(F.cols()));
  for (const auto& F : factors_) c.push_back("zstar_gap_s" + std::to_string(F.cols()));
  return c;
}

void BestRankDistanceMetric::measure(Observation& o, std::vector<double>& row) const {
  const Matrix U = observed_factor(o);
  for (const auto& F : factors_) {
    if (F.rows() != U.rows())
      throw std::invalid_argument("BestRankDistanceMetric: factor has " + std::to_string(F.rows()) +
                                  " rows, the state has " + std::to_string(U.rows()));
    row.push_back(procrustes_distance(U, F));
  }
  const Matrix& X = o.gram();
  for (const auto& Z : grams_) row.push_back((X - Z).norm());
}

// ------------------------------------------------------------ E_s(t)

RelativeErrorMetric::RelativeErrorMetric(const Matrix& truth, int k) {
  if (k < 1) throw std::invalid_argument("RelativeErrorMetric: expected k >= 1, got " + std::to_string(k));
  for (int s = 1; s <= k; ++s) {
    Matrix P = truncated_psd(truth, s);
    const double n2 = P.squaredNorm();
    if (!(n2 > 0))
      throw std::invalid_argument("RelativeErrorMetric: the top-" + std::to_string(s) +
                                  " part of the truth is zero");
    parts_.push_back(std::move(P));
    norms2_.push_back(n2);
  }
}

std::vector<std::string> RelativeErrorMetric::columns() const {
  std::vector<std::string> c;
  for (std::size_t s = 1; s <= parts_.size(); ++s) c.push_back("E_" + std::to_string(s));
  return c;
}

void RelativeErrorMetric::measure(Observation& o, std::vector<double>& row) const {
  const Matrix& X = o.gram();
  for (std::size_t s = 0; s < parts_.size(); ++s) row.push_back((X - parts_[s]).squaredNorm() / norms2_[s]);
}

// ------------------------------------------------------------ spectrum of X

GramSpectrumMetric::GramSpectrumMetric(Index n) : n_(n) {
  if (n < 1) throw std::invalid_argument("GramSpectrumMetric: expected n >= 1, got " + std::to_string(n));
}

std::vector<std::string> GramSpectrumMetric::columns() const {
  std::vector<std::string> c;
  for (Index i = 1; i <= n_; ++i) c.push_back("x_eig_" + std::to_string(i));
  return c;
}

void GramSpectrumMetric::measure(Observation& o, std::vector<double>& row) const {
  Vector values;
  if (o.kind() == StateKind::factor) {
    const Vector& sv = o.factor_singular_values();
    values = sv.cwiseProduct(sv);
  } else {
    values = o.gram_eigenvalues();
  }
  for (Index i = 0; i < n_; ++i) row.push_back(i < values.size() ? values[i] : 0.0);
}

// ------------------------------------------------------------ energy identity

void EnergyIdentityMetric::measure(Observation& o, std::vector<double>& row) const {
  const SensingLoss& loss = o.loss();
  const double c = loss.c();
  const Vector& r = o.residual();
  const Matrix& X = o.gram();
  const double G = 0.5 * c * r.squaredNorm();
  Matrix S;
  loss.op().adjoint(r, S);
  const Matrix SX = S * X;
  const double q = 4.0 * c * c * (S.transpose().cwiseProduct(SX)).sum();  // <S^2, X> = tr(S S X)
  const Matrix W = 2.0 * c * (SX + SX.transpose());
  Vector aw;
  loss.op().apply(W, aw);
  const double s3x = (S.transpose().cwiseProduct(S * SX)).sum();  // tr(S S S X)
  const double dq = -2.0 * (c * aw.squaredNorm() + 8.0 * c * c * c * s3x);
  const double t = o.info().t;
  row.push_back(G);
  row.push_back(q);
  row.push_back(dq);
  if (starts_new_run(has_previous_, t_, t)) {
    row.push_back(nan);
    row.push_back(nan);
  } else {
    const double h = t - t_;
    const double integral = 0.5 * h * (q_ + q) - h * h / 12.0 * (dq - dq_);
    row.push_back(G_ - G);
    row.push_back(G - G_ + integral);
  }
  has_previous_ = true;
  t_ = t;
  G_ = G;
  q_ = q;
  dq_ = dq;
}

// ------------------------------------------------------------ law (36)

SingularValueLawMetric::SingularValueLawMetric(int k, double floor) : k_(k), floor_(floor) {
  if (k < 1) throw std::invalid_argument("SingularValueLawMetric: expected k >= 1, got " + std::to_string(k));
  if (!(floor > 0 && floor < 1))
    throw std::invalid_argument("SingularValueLawMetric: expected 0 < floor < 1, got " + std::to_string(floor));
}

std::vector<std::string> SingularValueLawMetric::columns() const {
  std::vector<std::string> c;
  for (int i = 1; i <= k_; ++i) c.push_back("sv_rate_" + std::to_string(i));
  for (int i = 1; i <= k_; ++i) c.push_back("sv_law_residual_" + std::to_string(i));
  return c;
}

void SingularValueLawMetric::measure(Observation& o, std::vector<double>& row) const {
  Vector values;
  Matrix vectors;
  gram_eigen(o, values, vectors);
  Matrix S;
  o.loss().op().adjoint(o.residual(), S);
  const double c = o.loss().c();
  const double top = values.size() ? values[0] : 0.0;
  std::vector<double> log_s(k_, nan), rate(k_, nan);
  for (int i = 0; i < k_ && i < values.size(); ++i) {
    if (top > 0 && values[i] > floor_ * top) {
      const Vector v = vectors.col(i);
      rate[i] = -4.0 * c * v.dot(S * v);
      log_s[i] = std::log(values[i]);
    }
  }
  const double t = o.info().t;
  const bool fresh = starts_new_run(has_previous_, t_, t);
  for (int i = 0; i < k_; ++i) row.push_back(rate[i]);
  for (int i = 0; i < k_; ++i) {
    if (fresh) {
      row.push_back(nan);
    } else {
      const double h = t - t_;
      row.push_back(log_s[i] - log_s_[i] - 0.5 * h * (rate_[i] + rate[i]));  // NaN propagates
    }
  }
  has_previous_ = true;
  t_ = t;
  log_s_ = std::move(log_s);
  rate_ = std::move(rate);
}

// ------------------------------------------------------------ X flow vs U U^T

GramGapMetric::GramGapMetric(std::vector<double> times, std::vector<Matrix> grams)
    : times_(std::move(times)), grams_(std::move(grams)) {
  if (times_.size() != grams_.size())
    throw std::invalid_argument("GramGapMetric: " + std::to_string(times_.size()) + " times but " +
                                std::to_string(grams_.size()) + " matrices");
  for (std::size_t j = 1; j < times_.size(); ++j)
    if (!(times_[j] > times_[j - 1]))
      throw std::invalid_argument("GramGapMetric: times must be strictly increasing (index " +
                                  std::to_string(j) + ")");
}

void GramGapMetric::measure(Observation& o, std::vector<double>& row) const {
  const double t = o.info().t;
  const double tol = 1e-9 * std::max(1.0, std::abs(t));
  auto it = std::lower_bound(times_.begin(), times_.end(), t - tol);
  if (it == times_.end() || std::abs(*it - t) > tol) {
    row.push_back(nan);
    return;
  }
  const Matrix& ref = grams_[static_cast<std::size_t>(it - times_.begin())];
  const Matrix& X = o.gram();
  if (ref.rows() != X.rows() || ref.cols() != X.cols())
    throw std::invalid_argument("GramGapMetric: reference is " + std::to_string(ref.rows()) + " x " +
                                std::to_string(ref.cols()) + ", the state's Gram matrix is " +
                                std::to_string(X.rows()) + " x " + std::to_string(X.cols()));
  row.push_back((X - ref).norm());
}

}  // namespace flowsense
