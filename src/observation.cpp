#include "flowsense/observe/observation.hpp"

#include <cmath>
#include <limits>

namespace flowsense {

double Observation::gd_iteration() const {
  return gd_step_ > 0 ? info_.t / gd_step_ : std::numeric_limits<double>::quiet_NaN();
}

const Vector& Observation::residual() {
  if (!residual_) {
    Vector r;
    if (kind_ == StateKind::factor) {
      loss_.residual(state_, r);
    } else {
      loss_.op().apply(state_, r);
      r -= loss_.data();
    }
    residual_ = std::move(r);
  }
  return *residual_;
}

double Observation::training_error() { return residual().squaredNorm(); }

const Matrix& Observation::gram() {
  if (!gram_) gram_ = gram_of(state_, kind_);
  return *gram_;
}

const Vector& Observation::factor_singular_values() {
  if (!singular_values_) {
    if (kind_ == StateKind::factor) {
      // Jacobi is accurate for small singular values relative to the largest,
      // which the rank metric relies on; BDC for wide or tall large factors.
      if (state_.size() <= 200 * 200)
        singular_values_ = Eigen::JacobiSVD<Matrix>(state_).singularValues();
      else
        singular_values_ = Eigen::BDCSVD<Matrix>(state_).singularValues();
    } else {
      Vector s = gram_eigenvalues();
      singular_values_ = s.cwiseMax(0.0).cwiseSqrt();
    }
  }
  return *singular_values_;
}

const Vector& Observation::gram_eigenvalues() {
  if (!eigenvalues_) {
    Eigen::SelfAdjointEigenSolver<Matrix> eig(gram(), Eigen::EigenvaluesOnly);
    eigenvalues_ = eig.eigenvalues().reverse();
  }
  return *eigenvalues_;
}

}  // namespace flowsense
