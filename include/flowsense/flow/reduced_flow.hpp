#pragma once
// The exact reduced flow (DESIGN.md, "Useful facts"; paper 000 Lemma C.1).
//
// The factor flow U' = -grad G_c(U) = -2c A*(r(U)) U gives U(t) = Phi(t) U(0)
// for an invertible d x d Phi(t): the row space of U never changes. So a
// start of rank r0 < p, written U0 = L0 R^T with R (p x r0) orthonormal,
// stays U(t) = L(t) R^T with
//
//   L' = -2c A*(A(L L^T) - b) L = -grad G_c(L),   L(0) = L0 = U0 R,
//
// because L R^T (L R^T)^T = L L^T and grad G_c(L R^T) = grad G_c(L) R^T.
// That is FactorFlow itself on a d x r0 state (the loss never looks at the
// width), at r0/p of the cost per right-hand side. Every Runge-Kutta stage
// is a combination of terms M U, so the discrete steppers keep the identity
// too; only the adaptive step control differs (it measures the error of L,
// not of U), so the two agree to integration accuracy, and exactly for
// fixed-step steppers up to rounding.
//
// Everything that depends on U only through U U^T or up to right rotations
// (training and test error, rank, singular values, spectra of X,
// Procrustes distances, dist(U, M_b), sigma_m(Dg(U))) is the same for L and
// for U = L R^T, so metrics may be evaluated on L directly; expanding_observer
// reports U = L R^T when the factor itself is wanted (snapshots).
//
// Usage:
//   ReducedFactor red = reduce_initial_factor(U0, 1e-12);
//   FactorFlow flow(loss);
//   Matrix L = red.L;
//   integrate(flow, L, times, options, {expanding_observer(observer, red.R)});
//   Matrix U = expand_factor(L, red.R);
#include <utility>

#include "flowsense/core/types.hpp"

namespace flowsense {

struct ReducedFactor {
  Matrix L;                ///< d x r0, L0 = U0 R
  Matrix R;                ///< p x r0, orthonormal columns (right singular vectors of U0)
  Index rank = 0;          ///< r0: singular values above rank_tol * sigma_1(U0)
  double rank_tol = 0.0;   ///< the relative tolerance used
  Vector singular_values;  ///< all singular values of U0, descending
  /// ||U0 - L0 R^T||_F = sqrt(sum of the discarded sigma_i^2): how far the
  /// reduced start is from U0 (0 when rank(U0) = r0 exactly).
  double discarded = 0.0;
  /// True when r0 < p, i.e. the reduction saves work.
  bool reduces() const { return rank < R.rows(); }
};

/// Split U0 (d x p) = L0 R^T through its SVD U0 = W Sigma V^T: R = V_{r0},
/// L0 = U0 R = W_{r0} Sigma_{r0}, with r0 the number of singular values
/// > rank_tol * sigma_1. rank_tol must be in [0, 1) (std::invalid_argument
/// otherwise). A zero U0 (a stationary point of the flow) gives r0 = 1 with
/// L0 = 0 and R = e_1, so that the state is never empty.
ReducedFactor reduce_initial_factor(const Matrix& U0, double rank_tol = 1e-12);

/// U = L R^T (d x p).
Matrix expand_factor(const Matrix& L, const Matrix& R);

/// An observer for integrate() that hands U = L R^T (not L) to `inner`.
/// `inner` is any callable inner(const Matrix& U, const Info& info).
template <class Inner>
auto expanding_observer(Inner inner, Matrix R) {
  return [inner = std::move(inner), R = std::move(R)](const Matrix& L, const auto& info) mutable {
    const Matrix U = L * R.transpose();
    inner(U, info);
  };
}

}  // namespace flowsense
