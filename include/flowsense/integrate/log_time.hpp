#pragma once
// Logarithmic time, t = tau (e^s - 1), for the self-similar phase of large
// initializations (IntegrateOptions::time = TimeVariable::log).
//
// Why. Far from the data (||U U^T|| >> ||X_natural||) the flow is that of
// G_c without b, a homogeneous quartic: U' = -2c A*(A(U U^T)) U is invariant
// under U(t) -> k U(k^2 t), so its solutions collapse self-similarly,
// U ~ t^(-1/2) (paper 000's norm-1e3 starts in Example 1.1: sigma_1 falls
// from 71 at t = 1e-6 to 8.3 at 1e-4 and 0.95 at 1e-2). A power law is
// poorly approximated by the polynomials of any multistep or Runge-Kutta
// method on a uniform grid in t: the k-th derivative of t^(-1/2) carries
// the factor (1/2)(3/2)...(k - 1/2), 162 t^(-13/2) at k = 6, against
// (1/2)^6 = 1/64 for the same function in s = ln t. At order 5 the same
// local error therefore allows steps (162 * 64)^(1/6) = 4.7 times longer in
// s than h / t in t, and the collapse costs a fixed number of steps per
// decade of t instead of ~170 (bdf at rtol 1e-8; measured in
// docs/steppers.md). Where the flow is not self-similar (an exponential
// approach with rate lambda) the two variables cost about the same, since
// d/ds = (t + tau) d/dt turns h lambda into ds (t + tau) lambda; the growth
// phases of small starts are exponential, and gain nothing.
//
// How. The system dx/ds = (t(s) + tau) f(x), t(s) = tau (e^s - 1), so that
// s = 0 at t = 0 and dt/ds = t + tau: for t << tau it is f in flow time
// scaled by tau, for t >> tau it is log time. tau is the time scale below
// which nothing is resolved in log time; 0.1 / rho(J(x0)) (the fastest rate
// at the start) by default. The Jacobian is (t + tau) J(x), symmetric when
// J is. Observation times map to s_j = log1p(t_j / tau) and back exactly
// (the driver lands on s_j and reports t_j; TimeMap below), so observers,
// stop rules, progress reports and the Summary all see flow time.
#include <algorithm>
#include <cmath>
#include <vector>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"

namespace flowsense {

/// s <-> t for the driver: identity in flow time; in log time
/// t = t0 + tau expm1(s) (t0 = the first observation time), exact at the
/// observation times.
class TimeMap {
public:
  TimeMap() = default;
  /// Log time with scale tau > 0 for these flow-time observation times.
  TimeMap(double tau, const std::vector<double>& flow_times)
      : tau_(tau), t0_(flow_times.empty() ? 0.0 : flow_times.front()), t_(flow_times) {
    s_.reserve(t_.size());
    for (double t : t_) s_.push_back(std::log1p((t - t0_) / tau));
  }
  bool identity() const { return tau_ == 0; }
  double tau() const { return tau_; }
  /// The driver's times (s_j in log time).
  const std::vector<double>& driver_times() const { return s_; }
  /// Flow time of driver time s: exactly t_j when s = s_j.
  double flow_time(double s) const {
    if (identity()) return s;
    auto it = std::lower_bound(s_.begin(), s_.end(), s);
    if (it != s_.end() && *it == s) return t_[static_cast<std::size_t>(it - s_.begin())];
    return t0_ + tau_ * std::expm1(s);
  }

private:
  double tau_ = 0, t0_ = 0;
  std::vector<double> s_, t_;
};

/// dx/ds = (t(s) + tau) f(x) for an autonomous system f.
template <class System>
class LogTimeSystem {
public:
  /// t = t0 + tau expm1(s); f is autonomous, t is passed along.
  LogTimeSystem(System& system, double tau, double t0 = 0.0)
      : system_(&system), tau_(tau), t0_(t0), scale_(tau) {}

  static constexpr bool symmetric_jacobian = detail::has_symmetric_jacobian<System>();

  void operator()(const Matrix& x, Matrix& dxds, double s) const {
    const double elapsed = tau_ * std::expm1(s);
    scale_ = elapsed + tau_;
    (*system_)(x, dxds, t0_ + elapsed);
    dxds *= scale_;
  }

  /// (t + tau) J(x) at the time of the latest right-hand side: the steppers
  /// freeze the state of a Jacobian for many steps, while the factor t + tau
  /// grows like e^s; taking it fresh at each product keeps the frozen
  /// matrix as good in log time as in flow time.
  auto linearize(const Matrix& x) const {
    detail::FrozenJacobian<System> jac(*system_, x, nullptr);
    return [jac = std::move(jac), scale = &scale_](const Matrix& V, Matrix& out) {
      jac(V, out);
      out *= *scale;
    };
  }

  /// The same dense, (t + tau) J(x) with the factor at the latest right-hand
  /// side, when the system has J in closed form (FactorFlow): the steppers
  /// assemble it at once, so it equals the products-assembled matrix.
  void dense_jacobian(const Matrix& x, Matrix& J) const
    requires(detail::has_dense_jacobian<System>())
  {
    system_->dense_jacobian(x, J);
    J *= scale_;
  }

  /// The system's GMRES preconditioner (FactorFlow: gauss_newton_inverse.hpp)
  /// for (I - sigma (t + tau) J): the shift is scaled by the same factor as
  /// the products of linearize(), at the time of the latest right-hand side.
  auto preconditioner(const Matrix& x) const
    requires(detail::has_preconditioner<System>())
  {
    return detail::ScaledPreconditioner<decltype(system_->preconditioner(x))>{system_->preconditioner(x), &scale_};
  }
  Index preconditioner_size() const
    requires(detail::has_preconditioner<System>())
  {
    return system_->preconditioner_size();
  }

  double tau() const { return tau_; }

private:
  System* system_;
  double tau_, t0_;
  mutable double scale_;  ///< t - t0 + tau at the latest right-hand side
};

}  // namespace flowsense
