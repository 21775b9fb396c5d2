#pragma once
// BDF: the variable-order (1..5), variable-step backward differentiation
// formulas in the quasi-constant-step form of Shampine & Reichelt ("The
// MATLAB ODE Suite", SIAM J. Sci. Comput. 18, 1997, section 2; plain BDF,
// kappa = 0), for the long stiff tails of the flows (DESIGN.md: J = -H, real
// spectrum; after convergence most Hessian eigenvalues are ~0 and a few are
// large, the solution barely moves, and a high-order method that is stable
// on the whole negative real axis can take steps with h lambda_max >> 1).
//
// Why BDF next to ROS34PW2 (rosenbrock.hpp): orders up to 5 and one implicit
// solve per step (usually one or two Newton iterations, each one right-hand
// side), against order 3 and four solves per Rosenbrock step. BDF 1-2 are
// A-stable, 3-5 are A(alpha)-stable with alpha >= 51 degrees; the flows'
// spectrum is real, where all five are stable (the negative real axis lies
// in every BDF stability region). On a non-negative-real spectrum part (the
// growth phase of small starts) no stiff method helps anyway.
//
// The method. The history is the backward-difference array D_0..D_k of the
// interpolating polynomial at spacing h (D_0 = y_n, D_j = nabla^j y_n).
// A step of order k solves for y_{n+1} = y_pred + d, with
//   y_pred = sum_{j=0..k} D_j,   gamma_k = sum_{j=1..k} 1/j,
//   d - c h F(y_pred + d) + psi = 0,  c = 1 / gamma_k,
//   psi = (1/gamma_k) sum_{j=1..k} gamma_j D_j,
// by a modified Newton iteration with the matrix I - c h W (W a frozen
// Jacobian). The local error is estimated as d / (k + 1), in the weighted
// maximum norm of the other steppers (detail::weighted_max_norm, so rtol
// means the same for all of them). After an accepted step
//   D_{k+2} = d - D_{k+1},  D_{k+1} = d,  D_j += D_{j+1} (j = k..0).
// After k + 1 steps at the same h, the orders k - 1, k, k + 1 are compared
// by their error estimates (D_k / k and D_{k+2} / (k + 2)) and the one
// allowing the largest step is taken, h_new = h min(10, s max_q err_q^(-1/(q+1))),
// s = 0.9 (2 N + 1) / (2 N + iterations), N = 4 (the paper's rule, which
// scipy's BDF also follows). A rejected step shrinks h by
// max(0.2, s err^(-1/(k+1))).
//
// Changing h (asked by the error control, or by the driver: it clips a step
// to land on each observation time, integrate_impl.hpp) re-samples the
// interpolating polynomial at the new spacing. Shampine & Reichelt do that
// with D <- (R U)^T D; that rescales the *current* polynomial, and after a
// clipped sliver step (h_clip << h) growing back to h would extrapolate a
// polynomial fitted over k h_clip to k h: its last correction d is amplified
// by (h / h_clip)^k. So the polynomial is rebuilt here from the last k + 1
// accepted solution points themselves (Lagrange, skipping a point closer than
// 0.05 h_new to the newer one), which is the same polynomial after k + 1
// equal steps and stays well conditioned after a sliver; the (R U)^T D
// rescaling is used only while fewer points exist (right after a start,
// where D_1 = h F(y_0) is exact). This is why observation times are landed
// on by clipping (the protocol of the other steppers, so `auto` can hand the
// state back and forth) rather than by interpolating the history at the
// output time: the clipped step costs one extra step per observation time
// and no loss of order.
//
// Newton iteration (at most 4 iterations), convergence as in CVODE: the
// rate estimate r = max(0.3 r_prev, |dy_m| / |dy_{m-1}|) is carried across
// steps (reset to 1 with a new Jacobian), and the iteration stops when
// |dy| min(1, r) <= 0.03 (3% of the error tolerance, in the weighted norm);
// it fails when r >= 1 or it cannot get there in the remaining iterations.
// A failure with an old W rebuilds W at y_pred and retries; with a fresh W
// the step is retried with h / 2 (a failed step for the driver).
//
// Linear algebra, chosen by state size n = rows * cols (as rosenbrock.hpp):
//  - n <= stiff.dense_max_size: W = the system's dense_jacobian() in closed
//    form (FactorFlow), else assembled from n Jacobian-vector products
//    (detail::dense_jacobian), and LU-factored (I - c h W is indefinite away from minima and not
//    symmetric for the Gram flow); refactored when c h changes, rebuilt after
//    a Newton failure with an old W or after stiff.jacobian_max_age steps;
//  - larger n: matrix-free, W = the linearization frozen at the state where
//    it was last updated (same rule as the dense W), GMRES on the
//    error-weighted system stopped at the weighted residual
//    stiff.krylov_tolerance (2% of the error tolerance, below the Newton
//    tolerance so the inexact Newton iteration still converges). A missed
//    GMRES tolerance counts as a Newton failure; h stops growing once a
//    solve needs more than half a GMRES restart cycle. Where the system
//    has a preconditioner (FactorFlow: the exact inverse of the
//    Gauss-Newton part by Woodbury, flow/gauss_newton_inverse.hpp), it is
//    rebuilt with W and used as stiff.preconditioner says (auto: from the
//    first W whose solves averaged more than
//    detail::preconditioner_switch_iterations GMRES iterations).
//
// The right-hand side is assumed autonomous (the flows are); the time is
// passed along but no time derivative enters.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <Eigen/LU>
#include <boost/numeric/odeint/stepper/controlled_step_result.hpp>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"
#include "flowsense/integrate/detail/shifted_solve.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense {

template <class System>
class BdfStepper {
public:
  static constexpr int max_order = 5;
  /// Newton iterations per attempt (Shampine & Reichelt, scipy: 4).
  static constexpr int newton_max_iterations = 4;
  /// Newton stops when the weighted correction, times the rate, is below
  /// this fraction of the error tolerance.
  static constexpr double newton_tolerance = 0.03;

  BdfStepper(System& system, const IntegrateOptions& options, StiffStats* stats = nullptr,
             std::uint64_t* jvp_counter = nullptr)
      : system_(&system), options_(options), stats_(stats), jvp_(jvp_counter) {
    for (int k = 1; k <= max_order + 1; ++k) gamma_[k] = gamma_[k - 1] + 1.0 / k;
  }

  /// Adaptive step in odeint's controlled-stepper protocol (see rkc.hpp).
  /// Continues its history when (x, t) is where its last accepted step
  /// ended, and restarts at order 1 otherwise.
  template <class Rhs>
  boost::numeric::odeint::controlled_step_result try_step(Rhs& rhs, Matrix& x, double& t,
                                                          double& dt) {
    using boost::numeric::odeint::fail;
    using boost::numeric::odeint::success;
    const double h = dt;
    const Index n = x.size();
    reason_.clear();
    dense_ = detail::uses_dense_jacobian(n, options_.stiff);
    if (!dense_ && n != prec_n_) {
      const auto choice = detail::choose_preconditioner(*system_, n, options_.stiff);
      use_prec_ = choice.use;
      prec_eligible_ = choice.eligible;
      prec_n_ = n;
    }
    step_krylov_ = 0;
    if (!continues(x, t)) restart(rhs, x, t, h);
    else if (h != h_ || resample_) rescale(h);
    const int k = order_;
    const auto ku = static_cast<std::size_t>(k);

    Matrix y_pred = D_[0];
    for (std::size_t j = 1; j <= ku; ++j) y_pred += D_[j];
    Matrix psi = Matrix::Zero(x.rows(), x.cols());
    for (std::size_t j = 1; j <= ku; ++j) psi += gamma_[j] * D_[j];
    psi /= gamma_[ku];
    const double ch = h / gamma_[ku];

    Matrix y, d;
    int iterations = 0;
    bool converged = false;
    for (int attempt = 0; attempt < 2 && !converged; ++attempt) {
      prepare(y_pred, ch);
      converged = newton(rhs, t + h, y_pred, psi, ch, y, d, iterations);
      if (!converged) {
        if (jacobian_current_) break;
        jacobian_valid_ = false;  // W is from an older state: rebuild at y_pred
      }
    }
    if (!converged) {
      dt = 0.5 * h;
      if (reason_.empty()) {
        std::ostringstream m;
        m << "the BDF Newton iteration (order " << k << ") did not converge with a fresh Jacobian";
        reason_ = m.str();
      }
      return fail;
    }

    const double safety = 0.9 * (2 * newton_max_iterations + 1) / (2 * newton_max_iterations + iterations);
    const double error_constant = 1.0 / (k + 1);
    const double e = detail::weighted_max_norm(error_constant * d, x, y, options_.rtol, options_.atol);
    if (!(e <= 1.0)) {
      const double fac = std::isnan(e) ? 0.2 : std::max(0.2, safety * std::pow(e, -1.0 / (k + 1)));
      dt = h * std::min(fac, 0.9);
      std::ostringstream m;
      m << "the BDF error estimate (order " << k << ") stayed above rtol = " << options_.rtol;
      reason_ = m.str();
      return fail;
    }

    // Accept: update the differences (order k + 2 kept for the order choice).
    D_[ku + 2] = d - D_[ku + 1];
    D_[ku + 1] = d;
    for (std::size_t j = ku + 1; j-- > 0;) D_[j] += D_[j + 1];
    D_[0] = y;
    x = y;
    t += h;
    t_ = t;
    history_.insert(history_.begin(), Point{t, y});
    if (history_.size() > static_cast<std::size_t>(max_order + 2)) history_.pop_back();
    ++equal_steps_;
    ++jacobian_age_;
    jacobian_current_ = false;
    dt = h;
    if (equal_steps_ < k + 1) return success;

    // Order and step choice among k - 1, k, k + 1.
    const double inf = std::numeric_limits<double>::infinity();
    const auto norm = [&](const Matrix& v) {
      return detail::weighted_max_norm(v, y, y, options_.rtol, options_.atol);
    };
    const double e_minus = k > 1 ? norm(D_[ku] / static_cast<double>(k)) : inf;
    const double e_plus = k < max_order ? norm(D_[ku + 2] / static_cast<double>(k + 2)) : inf;
    const std::array<double, 3> errs = {e_minus, e, e_plus};
    int best = 1;
    double best_factor = 0;
    for (int i = 0; i < 3; ++i) {
      const double ei = errs[static_cast<std::size_t>(i)];
      const double f = std::isnan(ei) ? 0.0 : (ei > 0 ? std::pow(ei, -1.0 / (k + i)) : inf);
      if (f > best_factor) {
        best_factor = f;
        best = i;
      }
    }
    const int new_order = k + best - 1;
    if (new_order != order_) {
      order_ = new_order;
      resample_ = true;
    }
    dt = h * std::min(10.0, safety * best_factor);
    // GMRES cost grows with c h lambda_max(H): in a converged tail the
    // error estimates allow ever larger steps at order 1 while the solves
    // approach the iteration budget; a failed solve then wastes it and
    // halves h. So h does not grow once a solve of this step needed more
    // than half a restart cycle (on the rank-30 norm-1e3 benchmark problem:
    // 3,654 Jacobian-vector products instead of 11,903, same error).
    if (!dense_ && step_krylov_ > options_.stiff.krylov_restart / 2) dt = std::min(dt, h);
    equal_steps_ = 0;  // the next step changes h (or the order)
    return success;
  }

  std::string failure_reason() const { return reason_; }

  /// Forget the Jacobian (and the history): for callers that resume this
  /// stepper after moving the state themselves (auto_stepper.hpp).
  void invalidate_jacobian() {
    jacobian_valid_ = false;
    history_.clear();
  }

  int order() const { return order_; }

private:
  struct Point {
    double t;
    Matrix y;
  };

  bool continues(const Matrix& x, double t) const {
    return !history_.empty() && t == t_ && D_[0].rows() == x.rows() && D_[0].cols() == x.cols() && D_[0] == x;
  }

  template <class Rhs>
  void restart(Rhs& rhs, const Matrix& x, double t, double h) {
    for (auto& Dj : D_) Dj.setZero(x.rows(), x.cols());
    D_[0] = x;
    Matrix f(x.rows(), x.cols());
    rhs(x, f, t);
    D_[1] = h * f;
    order_ = 1;
    h_ = h;
    t_ = t;
    equal_steps_ = 0;
    resample_ = false;
    rate_ = 1.0;
    history_.clear();
    history_.push_back(Point{t, x});
  }

  /// Re-sample the history at spacing h (see the header comment).
  void rescale(double h) {
    const auto k = static_cast<std::size_t>(order_);
    // The newest point and older ones at least 0.05 h apart.
    std::vector<const Point*> pts{&history_.front()};
    for (std::size_t i = 1; i < history_.size() && pts.size() < k + 1; ++i)
      if (pts.back()->t - history_[i].t >= 0.05 * h) pts.push_back(&history_[i]);
    if (pts.size() == k + 1) {
      // u_i = (tau_i - t_n) / h; v_j = P(t_n - j h) = sum_i L_i(-j) y_i;
      // D_m = sum_{j<=m} (-1)^j C(m, j) v_j.
      std::array<double, max_order + 1> u{};
      for (std::size_t i = 0; i <= k; ++i) u[i] = (pts[i]->t - pts[0]->t) / h;
      std::array<std::array<double, max_order + 1>, max_order + 1> L{};  // L[j][i] = L_i(-j)
      for (std::size_t j = 0; j <= k; ++j)
        for (std::size_t i = 0; i <= k; ++i) {
          double p = 1;
          for (std::size_t m = 0; m <= k; ++m)
            if (m != i) p *= (-static_cast<double>(j) - u[m]) / (u[i] - u[m]);
          L[j][i] = p;
        }
      for (std::size_t m = 1; m <= k; ++m) {
        D_[m].setZero();
        double binom = 1;  // C(m, j)
        for (std::size_t j = 0; j <= m; ++j) {
          const double s = (j % 2 ? -1.0 : 1.0) * binom;
          for (std::size_t i = 0; i <= k; ++i) D_[m] += (s * L[j][i]) * pts[i]->y;
          binom = binom * static_cast<double>(m - j) / static_cast<double>(j + 1);
        }
      }
      D_[0] = pts[0]->y;
    } else {
      // D <- (R U)^T D with R_ij = prod_{l=1..i} (l - 1 - r j) / l (r = h / h_)
      // and U the same at r = 1 (Shampine & Reichelt, section 2.1).
      const auto R = rmatrix(h / h_), U = rmatrix(1.0);
      std::array<Matrix, max_order + 1> Dn;
      for (std::size_t j = 0; j <= k; ++j) {
        Dn[j].setZero(D_[0].rows(), D_[0].cols());
        for (std::size_t i = 0; i <= k; ++i) {
          double ru = 0;  // (R U)(i, j)
          for (std::size_t l = 0; l <= k; ++l) ru += R[i][l] * U[l][j];
          Dn[j] += ru * D_[i];
        }
      }
      for (std::size_t j = 0; j <= k; ++j) D_[j] = Dn[j];
    }
    h_ = h;
    equal_steps_ = 0;
    resample_ = false;
  }

  std::array<std::array<double, max_order + 1>, max_order + 1> rmatrix(double r) const {
    const auto k = static_cast<std::size_t>(order_);
    std::array<std::array<double, max_order + 1>, max_order + 1> R{};
    for (std::size_t j = 0; j <= k; ++j) {
      R[0][j] = 1;
      for (std::size_t i = 1; i <= k; ++i)
        R[i][j] = R[i - 1][j] * (static_cast<double>(i) - 1.0 - r * static_cast<double>(j)) /
                  static_cast<double>(i);
    }
    return R;
  }

  /// The frozen Jacobian W (dense: assembled and factored for c h).
  void prepare(const Matrix& at, double ch) {
    if (jacobian_age_ >= options_.stiff.jacobian_max_age) jacobian_valid_ = false;
    if (dense_) {
      if (!jacobian_valid_ || J_.rows() != at.size()) assemble(at);
      if (!(factored_ch_ == ch)) {
        lu_.compute(Matrix::Identity(at.size(), at.size()) - ch * J_);
        factored_ch_ = ch;
        if (stats_) ++stats_->factorizations;
      }
    } else if (!jacobian_valid_ || !lin_) {
      // auto: switch the preconditioner on (for good) once the GMRES solves
      // under the last frozen Jacobian needed more than
      // detail::preconditioner_switch_iterations each on average.
      if (prec_eligible_ && !use_prec_ &&
          static_cast<double>(period_iterations_) >
              detail::preconditioner_switch_iterations * static_cast<double>(std::max(1, period_solves_)))
        use_prec_ = true;
      period_iterations_ = period_solves_ = 0;
      lin_.emplace(*system_, at, jvp_);
      if (use_prec_) {
        if constexpr (detail::has_preconditioner<System>()) {
          if (prec_) prec_->rebuild(at);
          else prec_.emplace(system_->preconditioner(at));
          if (stats_) ++stats_->preconditioner_builds;
        }
      } else {
        prec_.reset();
      }
      on_new_jacobian();
    }
  }

  void on_new_jacobian() {
    jacobian_valid_ = true;
    jacobian_current_ = true;
    jacobian_age_ = 0;
    rate_ = 1.0;
  }

  void assemble(const Matrix& x) {
    detail::dense_jacobian(*system_, x, J_, jvp_, stats_);
    factored_ch_ = std::numeric_limits<double>::quiet_NaN();
    on_new_jacobian();
  }

  /// Modified Newton on d - c h F(y_pred + d) + psi = 0; y = y_pred + d.
  template <class Rhs>
  bool newton(Rhs& rhs, double t_new, const Matrix& y_pred, const Matrix& psi, double ch, Matrix& y,
              Matrix& d, int& iterations) {
    const Matrix w = (options_.atol + options_.rtol * y_pred.cwiseAbs().array())
                         .max(std::numeric_limits<double>::min())
                         .matrix();
    y = y_pred;
    d.setZero(y_pred.rows(), y_pred.cols());
    Matrix f(y_pred.rows(), y_pred.cols()), dy;
    double previous = 0;
    for (int m = 0; m < newton_max_iterations; ++m) {
      iterations = m + 1;
      rhs(y, f, t_new);
      if (!f.allFinite()) return false;
      if (!solve(w, ch, ch * f - psi - d, dy)) return false;
      const double size = (dy.cwiseAbs().array() / w.array()).maxCoeff();
      if (!std::isfinite(size)) return false;
      if (m > 0) {
        const double ratio = size / previous;
        rate_ = std::max(0.3 * rate_, ratio);
        if (ratio >= 1 ||
            std::pow(ratio, newton_max_iterations - m) / (1 - ratio) * size > newton_tolerance)
          return false;
      }
      y += dy;
      d += dy;
      if (size * std::min(1.0, rate_) <= newton_tolerance) return true;
      previous = size;
    }
    return false;
  }

  /// (I - c h W) u = r.
  bool solve(const Matrix& w, double ch, const Matrix& r, Matrix& u) {
    if (stats_) ++stats_->linear_solves;
    if (dense_) return detail::solve_dense_shifted(lu_, r, u, "BDF matrix I - c h J", reason_);
    int iterations = 0;
    const std::uint64_t factored = prec_ ? prec_->factorizations() : 0;
    const bool ok = detail::solve_krylov_shifted(*lin_, w, ch, r, u, options_.stiff, stats_, reason_, &iterations,
                                                 prec_ ? &*prec_ : nullptr);
    if (prec_ && stats_) stats_->preconditioner_factorizations += prec_->factorizations() - factored;
    step_krylov_ = std::max(step_krylov_, iterations);
    period_iterations_ += iterations;
    ++period_solves_;
    return ok;
  }

  System* system_;
  IntegrateOptions options_;
  StiffStats* stats_;
  std::uint64_t* jvp_;
  std::array<double, max_order + 2> gamma_{};
  // History.
  std::array<Matrix, max_order + 3> D_;
  std::vector<Point> history_;  ///< accepted points, newest first
  int order_ = 1;
  double h_ = 0, t_ = 0;
  int equal_steps_ = 0;
  bool resample_ = false;
  // Newton and W.
  double rate_ = 1.0;
  bool dense_ = false;
  bool jacobian_valid_ = false;
  bool jacobian_current_ = false;
  int jacobian_age_ = 0;
  Matrix J_;
  Eigen::PartialPivLU<Matrix> lu_;
  double factored_ch_ = std::numeric_limits<double>::quiet_NaN();
  std::optional<detail::FrozenJacobian<System>> lin_;
  // GMRES preconditioner (detail::choose_preconditioner), rebuilt with lin_.
  bool use_prec_ = false;
  bool prec_eligible_ = false;  ///< auto: may switch it on
  int period_iterations_ = 0, period_solves_ = 0;  ///< GMRES iterations and solves under the current W
  Index prec_n_ = -1;
  std::optional<detail::PreconditionerOf<System>> prec_;
  std::string reason_;
  int step_krylov_ = 0;
};

}  // namespace flowsense
