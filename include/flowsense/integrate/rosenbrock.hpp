#pragma once
// ROS34PW2: a linearly implicit Rosenbrock-W method of order 3 with an
// embedded method of order 2 (Rang & Angermann, BIT 45, 2005), for the stiff
// phases of the flows (DESIGN.md: J = -H, real spectrum; stiff where
// lambda_max(H) h >> 1).
//
// Why this method. L-stable (R(infinity) = 0: the flat-then-steep spectrum
// of a converged run, 841 zero and ~59 large Hessian eigenvalues at
// Example 1.1 size, is damped at any step), stiffly accurate, 4 stages with
// one matrix I - gamma h W for all of them, and a W-method: its order 3
// holds with any matrix W in place of the exact Jacobian. That is what lets
// the dense variant keep one assembled Jacobian for several steps and the
// Krylov variant stop GMRES early without losing the order.
//
// The method (Hairer & Wanner II, IV.7, with W for J), for y' = F(y):
//   (I - gamma h W) k_i = h F(y + sum_{j<i} alpha_ij k_j) + h W sum_{j<i} gamma_ij k_j,
//   y_{n+1} = y + sum b_i k_i,  error estimate sum (b_i - bhat_i) k_i,
// run in the variables u_i = sum_{j<=i} gamma_ij k_i, which need no
// products with W outside the solves:
//   (I - gamma h W) u_i = gamma h F(y + sum a_ij u_j) + gamma sum_{j<i} c_ij u_j,
//   a = alpha Gamma^-1,  c = diag(1/gamma) - Gamma^-1,  m = b Gamma^-1.
// The coefficients are computed from the published tableau in long double.
//
// Linear algebra, chosen by state size n = rows * cols:
//  - n <= stiff.dense_max_size: W = J, the system's dense_jacobian() in
//    closed form (FactorFlow), else assembled column by column from n
//    Jacobian-vector products (detail::dense_jacobian), LU-factored (Eigen::PartialPivLU: I - gamma h J
//    is symmetric for the factor flow but indefinite away from minima, and
//    not symmetric for the Gram flow), refactored when h changes, rebuilt
//    after stiff.jacobian_max_age steps or when a step with an old W fails;
//  - larger n: W = J applied matrix-free (a frozen linearization at y_n) and
//    GMRES (detail/gmres.hpp) on the error-weighted system, stopped when the
//    weighted residual is below stiff.krylov_tolerance; a solve that misses
//    it within stiff.krylov_max_iterations makes the step fail (retried with
//    h / 4).
//
// Step control: the embedded estimate in the weighted maximum norm of
// odeint's controlled steppers, h_new = h min(5, max(0.2, 0.9 err^(-1/3))).
// The right-hand side is assumed autonomous (the flows are): stage times
// are passed along but no time derivative enters the stages.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

#include <Eigen/LU>
#include <boost/numeric/odeint/stepper/controlled_step_result.hpp>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"
#include "flowsense/integrate/detail/shifted_solve.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense {

/// ROS34PW2 in transformed form (see the header comment).
struct RosenbrockTableau {
  static constexpr int stages = 4;
  double gamma = 0;
  std::array<std::array<double, 4>, 4> a{}, c{};  ///< strictly lower triangular
  std::array<double, 4> m{}, m_hat{}, alpha_sum{};

  static const RosenbrockTableau& ros34pw2() {
    static const RosenbrockTableau t = make();
    return t;
  }

private:
  static RosenbrockTableau make() {
    using L = long double;
    const L g = 4.3586652150845900e-01L;
    const L alpha[4][4] = {{0, 0, 0, 0},
                           {8.7173304301691801e-01L, 0, 0, 0},
                           {8.4457060015369423e-01L, -1.1299064236484185e-01L, 0, 0},
                           {0, 0, 1, 0}};
    const L Gam[4][4] = {{g, 0, 0, 0},
                         {-8.7173304301691801e-01L, g, 0, 0},
                         {-9.0338057013044082e-01L, 5.4180672388095326e-02L, g, 0},
                         {2.4212380706095346e-01L, -1.2232505839045147e+00L, 5.4526025533510214e-01L, g}};
    const L b[4] = {2.4212380706095346e-01L, -1.2232505839045147e+00L, 1.5452602553351020e+00L, g};
    const L bhat[4] = {3.7810903145819369e-01L, -9.6042292212423178e-02L, 5.0000000000000000e-01L,
                       2.1793326075422950e-01L};
    // Gamma^-1 by forward substitution (lower triangular).
    L Gi[4][4] = {};
    for (int col = 0; col < 4; ++col)
      for (int i = 0; i < 4; ++i) {
        L s = (i == col) ? 1 : 0;
        for (int j = 0; j < i; ++j) s -= Gam[i][j] * Gi[j][col];
        Gi[i][col] = s / Gam[i][i];
      }
    RosenbrockTableau t;
    t.gamma = static_cast<double>(g);
    for (int i = 0; i < 4; ++i) {
      L as = 0;
      for (int j = 0; j < 4; ++j) {
        L aij = 0;
        for (int k = 0; k < 4; ++k) aij += alpha[i][k] * Gi[k][j];
        t.a[i][j] = j < i ? static_cast<double>(aij) : 0.0;
        t.c[i][j] = j < i ? static_cast<double>(-Gi[i][j]) : 0.0;
        as += alpha[i][j];
      }
      t.alpha_sum[i] = static_cast<double>(as);
      L mi = 0, mh = 0;
      for (int k = 0; k < 4; ++k) {
        mi += b[k] * Gi[k][i];
        mh += bhat[k] * Gi[k][i];
      }
      t.m[i] = static_cast<double>(mi);
      t.m_hat[i] = static_cast<double>(mh);
    }
    return t;
  }
};

template <class System>
class RosenbrockStepper {
public:
  RosenbrockStepper(System& system, const IntegrateOptions& options, StiffStats* stats = nullptr,
                    std::uint64_t* jvp_counter = nullptr)
      : system_(&system), options_(options), stats_(stats), jvp_(jvp_counter),
        tab_(RosenbrockTableau::ros34pw2()) {}

  /// Adaptive step in odeint's controlled-stepper protocol (see rkc.hpp).
  template <class Rhs>
  boost::numeric::odeint::controlled_step_result try_step(Rhs& rhs, Matrix& x, double& t,
                                                          double& dt) {
    using boost::numeric::odeint::fail;
    using boost::numeric::odeint::success;
    const double h = dt;
    Matrix y, err;
    if (!attempt(rhs, x, t, h, y, err)) {
      dt = 0.25 * h;
      last_rejected_ = true;
      return fail;
    }
    const double e = detail::weighted_max_norm(err, x, y, options_.rtol, options_.atol);
    if (!(e <= 1.0)) {
      if (dense_ && jacobian_age_ > 0) rebuild_ = true;  // W is from an older state
      last_rejected_ = true;
      const double fac = std::isnan(e) ? 0.2 : std::max(0.2, 0.9 * std::pow(e, -1.0 / 3.0));
      dt = h * std::min(fac, 0.9);
      std::ostringstream m;
      m << "the Rosenbrock error estimate stayed above rtol = " << options_.rtol;
      reason_ = m.str();
      return fail;
    }
    x = y;
    t += h;
    ++jacobian_age_;
    double fac = e > 0 ? std::min(5.0, std::max(0.2, 0.9 * std::pow(e, -1.0 / 3.0))) : 5.0;
    if (last_rejected_) fac = std::min(fac, 1.0);
    last_rejected_ = false;
    dt = h * fac;
    return success;
  }

  /// One fixed step (no error control), for convergence-order tests.
  /// Returns false (x unchanged) if a linear solve failed.
  template <class Rhs>
  bool do_step(Rhs& rhs, Matrix& x, double t, double h) {
    Matrix y, err;
    if (!attempt(rhs, x, t, h, y, err)) return false;
    x = y;
    ++jacobian_age_;
    return true;
  }

  std::string failure_reason() const { return reason_; }

  /// Forget the assembled Jacobian (dense variant): the next step rebuilds
  /// it. For callers that resume this stepper after moving the state.
  void invalidate_jacobian() { rebuild_ = true; }

private:
  template <class Rhs>
  bool attempt(Rhs& rhs, const Matrix& x, double t, double h, Matrix& y, Matrix& err) {
    const Index n = x.size();
    dense_ = detail::uses_dense_jacobian(n, options_.stiff);
    if (!(fx_state_.size() == n && fx_state_ == x)) {
      fx_.resize(x.rows(), x.cols());
      rhs(x, fx_, t);
      fx_state_ = x;
    }
    const double gh = tab_.gamma * h;
    if (dense_) {
      if (J_.rows() != n || rebuild_ || jacobian_age_ >= options_.stiff.jacobian_max_age)
        assemble(x);
      if (!(factored_gh_ == gh)) {
        Matrix M = Matrix::Identity(n, n) - gh * J_;
        lu_.compute(M);
        factored_gh_ = gh;
        if (stats_) ++stats_->factorizations;
      }
    } else if (!(lin_state_.size() == n && lin_state_ == x)) {
      lin_.emplace(*system_, x, jvp_);
      lin_state_ = x;
    }

    std::array<Matrix, 4> u;
    Matrix Y, F(x.rows(), x.cols()), r;
    for (int i = 0; i < 4; ++i) {
      const auto ii = static_cast<std::size_t>(i);
      if (i == 0) {
        r = gh * fx_;
      } else {
        Y = x;
        for (int j = 0; j < i; ++j) Y += tab_.a[ii][static_cast<std::size_t>(j)] * u[static_cast<std::size_t>(j)];
        rhs(Y, F, t + tab_.alpha_sum[ii] * h);
        r = gh * F;
        for (int j = 0; j < i; ++j)
          r += (tab_.gamma * tab_.c[ii][static_cast<std::size_t>(j)]) * u[static_cast<std::size_t>(j)];
      }
      if (!solve(x, gh, r, u[ii])) return false;
    }
    y = x;
    err = Matrix::Zero(x.rows(), x.cols());
    for (std::size_t i = 0; i < 4; ++i) {
      y += tab_.m[i] * u[i];
      err += (tab_.m[i] - tab_.m_hat[i]) * u[i];
    }
    return true;
  }

  void assemble(const Matrix& x) {
    detail::dense_jacobian(*system_, x, J_, jvp_, stats_);
    jacobian_age_ = 0;
    rebuild_ = false;
    factored_gh_ = std::numeric_limits<double>::quiet_NaN();
  }

  /// (I - gh W) u = r.
  bool solve(const Matrix& x, double gh, const Matrix& r, Matrix& u) {
    if (stats_) ++stats_->linear_solves;
    if (dense_) return detail::solve_dense_shifted(lu_, r, u, "Rosenbrock matrix I - gamma h J", reason_);
    const Matrix w = (options_.atol + options_.rtol * x.cwiseAbs().array())
                         .max(std::numeric_limits<double>::min())
                         .matrix();
    return detail::solve_krylov_shifted(*lin_, w, gh, r, u, options_.stiff, stats_, reason_);
  }

  System* system_;
  IntegrateOptions options_;
  StiffStats* stats_;
  std::uint64_t* jvp_;
  RosenbrockTableau tab_;
  bool dense_ = false;
  Matrix fx_, fx_state_;
  // dense
  Matrix J_;
  Eigen::PartialPivLU<Matrix> lu_;
  double factored_gh_ = std::numeric_limits<double>::quiet_NaN();
  int jacobian_age_ = 0;
  bool rebuild_ = false;
  // Krylov
  std::optional<detail::FrozenJacobian<System>> lin_;
  Matrix lin_state_;
  bool last_rejected_ = false;
  std::string reason_;
};

}  // namespace flowsense
