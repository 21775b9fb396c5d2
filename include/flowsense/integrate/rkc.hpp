#pragma once
// RKC: the second-order Runge-Kutta-Chebyshev method of Sommeijer, Shampine
// and Verwer (J. Comput. Appl. Math. 88, 1997), a stabilized explicit method
// for ODEs whose Jacobian has a real (or nearly real) negative spectrum, such
// as the gradient flow U' = -grad G_c(U), J = -H (DESIGN.md).
//
// One step of s stages (s >= 2), damping eps = 2/13, w0 = 1 + eps/s^2,
// w1 = T_s'(w0)/T_s''(w0), b_j = T_j''(w0)/T_j'(w0)^2 (b_0 = b_1 = b_2),
// with T_j the Chebyshev polynomials:
//
//   Y_0 = y_n,  Y_1 = Y_0 + mu~_1 h F(Y_0),  mu~_1 = b_1 w1,
//   Y_j = (1 - mu_j - nu_j) Y_0 + mu_j Y_{j-1} + nu_j Y_{j-2}
//         + mu~_j h F(Y_{j-1}) + gamma~_j h F(Y_0),                j = 2..s,
//   mu_j = 2 b_j w0 / b_{j-1},  nu_j = -b_j / b_{j-2},  mu~_j = 2 b_j w1 / b_{j-1},
//   gamma~_j = -(1 - b_{j-1} T_{j-1}(w0)) mu~_j,                   y_{n+1} = Y_s.
//
// Its stability polynomial is P_s(z) = a_s + b_s T_s(w0 + w1 z), bounded by
// 1 - eps/3 or so in modulus on the whole real interval [-beta(s), 0] with
//   beta(s) = (1 + w0) / w1  ~  0.65 s^2,
// so a step h needs only s ~ sqrt(h rho / 0.65) stages, rho = -lambda_min(J):
// the cost per unit time falls like 1/sqrt(h) instead of staying at rho/3.3
// as for dopri5. The stages are chosen per step from an estimate of rho
// (spectral_radius.hpp: Lanczos on the Jacobian-vector product for the
// factor flow, power iteration otherwise), refreshed every
// stiff.rkc_refresh_steps accepted steps and after a rejected step, and used
// with the safety factor 1.2 of the RKC code.
//
// Error control (the RKC code's estimate): the local error of the
// second-order step is estimated by
//   est = (12 (y_n - y_{n+1}) + 6 h (F(y_n) + F(y_{n+1}))) / 15,
// in the same weighted maximum norm as odeint's controlled steppers
// (rtol, atol), and h_new = h min(10, max(0.1, 0.8 err^(-1/3))). F(y_{n+1})
// is reused as the next step's F(y_n), so a step of s stages costs s
// right-hand sides.
//
// The stage times t + c_j h assume nothing: c_j follows the same recurrence
// (c_s = 1); the flows here are autonomous anyway.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <boost/numeric/odeint/stepper/controlled_step_result.hpp>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"
#include "flowsense/integrate/spectral_radius.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense {

/// The coefficients of one s-stage RKC step (index j = 0..s).
struct RkcCoefficients {
  int stages = 0;
  double w0 = 0, w1 = 0;
  std::vector<double> mu, nu, mu_tilde, gamma_tilde, c;
  double beta = 0;  ///< stability boundary: |P_s(z)| <= 1 on [-beta, 0]

  explicit RkcCoefficients(int s) : stages(s) {
    const double eps = 2.0 / 13.0;
    const auto n = static_cast<std::size_t>(s) + 1;
    w0 = 1.0 + eps / (static_cast<double>(s) * s);
    std::vector<double> T(n), dT(n), ddT(n);
    T[0] = 1, T[1] = w0, dT[0] = 0, dT[1] = 1, ddT[0] = 0, ddT[1] = 0;
    for (std::size_t j = 2; j < n; ++j) {
      T[j] = 2 * w0 * T[j - 1] - T[j - 2];
      dT[j] = 2 * T[j - 1] + 2 * w0 * dT[j - 1] - dT[j - 2];
      ddT[j] = 4 * dT[j - 1] + 2 * w0 * ddT[j - 1] - ddT[j - 2];
    }
    w1 = dT[n - 1] / ddT[n - 1];
    beta = (1.0 + w0) / w1;
    std::vector<double> b(n);
    for (std::size_t j = 2; j < n; ++j) b[j] = ddT[j] / (dT[j] * dT[j]);
    b[0] = b[1] = b[2];
    mu.assign(n, 0), nu.assign(n, 0), mu_tilde.assign(n, 0), gamma_tilde.assign(n, 0), c.assign(n, 0);
    mu_tilde[1] = b[1] * w1;
    c[1] = mu_tilde[1];
    for (std::size_t j = 2; j < n; ++j) {
      mu[j] = 2 * b[j] * w0 / b[j - 1];
      nu[j] = -b[j] / b[j - 2];
      mu_tilde[j] = 2 * b[j] * w1 / b[j - 1];
      gamma_tilde[j] = -(1 - b[j - 1] * T[j - 1]) * mu_tilde[j];
      // F == 1 in the stage formula gives the stage times.
      c[j] = mu[j] * c[j - 1] + nu[j] * c[j - 2] + mu_tilde[j] + gamma_tilde[j];
    }
  }

  /// P_s(z) for the test equation y' = lambda y, z = h lambda, by running the
  /// stage recurrence on scalars (for tests and docs).
  double stability_polynomial(double z) const {
    double y0 = 1, ym2 = 1, ym1 = 1 + mu_tilde[1] * z;
    for (std::size_t j = 2; j <= static_cast<std::size_t>(stages); ++j) {
      const double y = (1 - mu[j] - nu[j]) * y0 + mu[j] * ym1 + nu[j] * ym2 + mu_tilde[j] * z * ym1 +
                       gamma_tilde[j] * z * y0;
      ym2 = ym1;
      ym1 = y;
    }
    return ym1;
  }
};

template <class System>
class RkcStepper {
public:
  static constexpr double safety = 1.2;  ///< rho is used as 1.2 * its estimate (RKC code)

  RkcStepper(System& system, const IntegrateOptions& options, StiffStats* stats = nullptr,
             std::uint64_t* jvp_counter = nullptr)
      : system_(&system), options_(options), stats_(stats), jvp_(jvp_counter) {}

  /// beta(s) for s stages.
  static double stability_boundary(int s) { return RkcCoefficients(s).beta; }

  /// The fewest stages s >= 2 with beta(s) >= z = h * rho (capped at max_stages).
  static int stages_for(double z, int max_stages) {
    // beta(s) ~ 0.653 s^2: start just below the estimate, then walk up.
    int s = std::max(2, static_cast<int>(std::sqrt(std::max(z, 0.0) / 0.66)) - 1);
    s = std::min(s, max_stages);
    while (s < max_stages && RkcCoefficients(s).beta < z) ++s;
    while (s > 2 && RkcCoefficients(s - 1).beta >= z) --s;
    return s;
  }

  /// The current estimate of rho = -lambda_min(J) (0 before the first step).
  double stiffness() const { return rho_; }

  /// Adaptive step in odeint's controlled-stepper protocol: on success x and
  /// t advance by the dt passed in and dt becomes the proposed next step; on
  /// failure x and t stay and dt shrinks.
  template <class Rhs>
  boost::numeric::odeint::controlled_step_result try_step(Rhs& rhs, Matrix& x, double& t,
                                                          double& dt) {
    using boost::numeric::odeint::fail;
    using boost::numeric::odeint::success;
    ensure_f(rhs, x, t);
    if (!have_rho_ || accepted_since_refresh_ >= options_.stiff.rkc_refresh_steps ||
        (refresh_after_reject_ && !(rho_state_ == x)))
      refresh(x);
    refresh_after_reject_ = false;

    const double rho = safety * rho_;
    const double h_stable = max_stable_step(rho);
    if (dt > h_stable) {  // never take a step the largest stage count cannot stabilize
      dt = h_stable;
      reason_ = "the step is limited to beta(max_stages) / rho";
      return fail;
    }
    const double h = dt;
    const int s = stages_for(h * rho, options_.stiff.rkc_max_stages);
    Matrix y;
    step(rhs, x, fx_, t, h, s, y);
    Matrix fy(x.rows(), x.cols());
    rhs(y, fy, t + h);
    const Matrix est = (12.0 * (x - y) + 6.0 * h * (fx_ + fy)) / 15.0;
    const double err = detail::weighted_max_norm(est, x, y, options_.rtol, options_.atol);
    if (!(err <= 1.0)) {
      refresh_after_reject_ = true;
      last_rejected_ = true;
      const double fac = std::isnan(err) ? 0.1 : std::max(0.1, 0.8 * std::pow(err, -1.0 / 3.0));
      dt = h * std::min(fac, 0.9);
      std::ostringstream m;
      m << "RKC with " << s << " stages (rho ~ " << rho_ << ") could not meet rtol = " << options_.rtol;
      reason_ = m.str();
      return fail;
    }
    x = y;
    fx_ = fy;
    fx_state_ = y;
    t += h;
    ++accepted_since_refresh_;
    double fac = err > 0 ? std::min(10.0, std::max(0.1, 0.8 * std::pow(err, -1.0 / 3.0))) : 10.0;
    if (last_rejected_) fac = std::min(fac, 1.0);
    last_rejected_ = false;
    dt = std::min(h * fac, h_stable);
    return success;
  }

  /// One fixed step of exactly `stages` stages (no error control, no
  /// spectral estimate): the method itself, for convergence-order tests.
  template <class Rhs>
  void do_step(Rhs& rhs, Matrix& x, double t, double h, int stages) {
    ensure_f(rhs, x, t);
    Matrix y;
    step(rhs, x, fx_, t, h, stages, y);
    x = y;
  }

  /// Why the last step failed (for the driver's no-progress report).
  std::string failure_reason() const { return reason_; }

private:
  double max_stable_step(double rho) const {
    if (!(rho > 0)) return std::numeric_limits<double>::infinity();
    if (beta_max_ == 0) beta_max_ = RkcCoefficients(options_.stiff.rkc_max_stages).beta;
    return beta_max_ / rho;
  }

  template <class Rhs>
  void ensure_f(Rhs& rhs, const Matrix& x, double t) {
    if (fx_state_.size() == x.size() && fx_state_ == x) return;
    fx_.resize(x.rows(), x.cols());
    rhs(x, fx_, t);
    fx_state_ = x;
  }

  void refresh(const Matrix& x) {
    const SpectralEstimate est = estimate_stiffness(
        *system_, x, options_.stiff.spectral_iterations, jvp_, warm_.size() ? &warm_ : nullptr);
    rho_ = std::isfinite(est.stiffness) ? est.stiffness : rho_;
    warm_ = est.vector;
    rho_state_ = x;
    have_rho_ = true;
    accepted_since_refresh_ = 0;
    if (stats_) {
      if (stats_->spectral_estimates == 0) stats_->spectral_radius_first = rho_;
      ++stats_->spectral_estimates;
      stats_->spectral_radius_last = rho_;
      stats_->spectral_radius_max = std::max(stats_->spectral_radius_max, rho_);
    }
  }

  template <class Rhs>
  void step(Rhs& rhs, const Matrix& x, const Matrix& fx, double t, double h, int s, Matrix& out) {
    if (coef_.stages != s) coef_ = RkcCoefficients(s);
    const RkcCoefficients& k = coef_;
    if (stats_) {
      stats_->stages_total += static_cast<std::uint64_t>(s);
      stats_->stages_max = std::max(stats_->stages_max, s);
    }
    Matrix ym2 = x;
    Matrix ym1 = x + (k.mu_tilde[1] * h) * fx;
    Matrix f(x.rows(), x.cols()), y(x.rows(), x.cols());
    for (int j = 2; j <= s; ++j) {
      const auto jj = static_cast<std::size_t>(j);
      rhs(ym1, f, t + k.c[jj - 1] * h);
      y = (1 - k.mu[jj] - k.nu[jj]) * x + k.mu[jj] * ym1 + k.nu[jj] * ym2 +
          (k.mu_tilde[jj] * h) * f + (k.gamma_tilde[jj] * h) * fx;
      std::swap(ym2, ym1);
      std::swap(ym1, y);
    }
    out = std::move(ym1);
  }

  System* system_;
  IntegrateOptions options_;
  StiffStats* stats_;
  std::uint64_t* jvp_;
  RkcCoefficients coef_{2};
  mutable double beta_max_ = 0;
  Matrix fx_, fx_state_;
  double rho_ = 0;
  bool have_rho_ = false;
  bool refresh_after_reject_ = false;
  bool last_rejected_ = false;
  Matrix rho_state_, warm_;
  int accepted_since_refresh_ = 0;
  std::string reason_;
};

}  // namespace flowsense
