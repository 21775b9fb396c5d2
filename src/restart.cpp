#include "flowsense/algorithm/restart.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/observe/metrics.hpp"
#include "flowsense/problem/planted.hpp"

namespace flowsense {

RestartRule::RestartRule(std::uint64_t window, double tau, bool segment_window)
    : window_(window), tau_(tau), segment_window_(segment_window) {
  if (window < 2)
    throw std::invalid_argument("RestartRule: expected window W >= 2 (mod(k, 1) = 1 never holds), got " +
                                std::to_string(window));
  if (!(tau >= 0)) throw std::invalid_argument("RestartRule: expected tau >= 0");
}

std::optional<double> RestartRule::observe(std::uint64_t k, double error) {
  const bool in_segment = !segment_window_ || (k >= 1 && k - 1 >= segment_start_);
  if (previous_ && k >= 1 && in_segment) {
    ratios_.push_back(error / *previous_);
    ratio_index_.push_back(k);
    while (ratios_.size() > window_) {
      ratios_.pop_front();
      ratio_index_.pop_front();
    }
  }
  previous_ = error;
  if (k % window_ != 1) return std::nullopt;
  std::optional<double> ratio;
  for (std::size_t i = 0; i < ratios_.size(); ++i) {
    if (ratio_index_[i] + window_ < k + 1) continue;  // k' < k - W + 1
    ratio = ratio ? std::max(*ratio, ratios_[i]) : ratios_[i];
  }
  return ratio;
}

void RestartRule::restarted_after(std::uint64_t k) {
  segment_start_ = k + 1;
  if (segment_window_) {
    ratios_.clear();
    ratio_index_.clear();
  }
}

std::string RestartOptions::validate() const {
  std::ostringstream s;
  if (!(learning_rate > 0)) s << "learning_rate must be > 0, got " << learning_rate;
  else if (iterations < 1) s << "iterations K must be >= 1";
  else if (window < 2) s << "window W must be >= 2 (mod(k, 1) = 1 never holds), got " << window;
  else if (window > iterations) s << "window W = " << window << " must be <= K = " << iterations;
  else if (!(tau >= 0)) s << "tau must be >= 0, got " << tau;
  else if (initial_rank < 1) s << "initial_rank r0 must be >= 1, got " << initial_rank;
  else if (!(initial_norm > 0)) s << "initial_norm rho0 must be > 0, got " << initial_norm;
  else if (rank_step < 0) s << "rank_step must be >= 0, got " << rank_step;
  else if (!(factor > 0 && factor < 1)) s << "factor must be in (0, 1), got " << factor;
  else if (min_rank < 1 || min_rank > initial_rank)
    s << "min_rank r must be in [1, r0 = " << initial_rank << "], got " << min_rank;
  return s.str();
}

namespace {

std::vector<std::uint64_t> default_record_grid(std::uint64_t K) {
  std::set<std::uint64_t> ks;
  for (std::uint64_t k = 0; k <= std::min<std::uint64_t>(K + 1, 10); ++k) ks.insert(k);
  const double top = std::log10(static_cast<double>(K + 1));
  for (int i = 0; i <= 300; ++i)
    ks.insert(static_cast<std::uint64_t>(std::llround(std::pow(10.0, top * i / 300.0))));
  ks.insert(K + 1);
  return {ks.begin(), ks.end()};
}

/// The rows of a restart run: one per recorded iteration.
struct RestartRecorder {
  const Problem& problem;
  const SensingLoss& loss;
  double h;
  RestartResult& result;
  std::set<std::uint64_t> record;

  void row(std::uint64_t k, const Matrix& U, double training_error, Index rank0, double rho) {
    const Matrix X = U * U.transpose();
    const Vector s = Eigen::JacobiSVD<Matrix>(U).singularValues();
    result.trajectory.rows.push_back({static_cast<double>(k) * h, static_cast<double>(k),
                                      training_error, (X - problem.planted).squaredNorm(),
                                      static_cast<double>(numerical_rank(s, 1e-8)),
                                      static_cast<double>(rank0), rho});
  }
};

}  // namespace

RestartResult run_restart_algorithm(const Problem& problem, const RestartOptions& options) {
  if (auto why = options.validate(); !why.empty())
    throw std::invalid_argument("run_restart_algorithm: " + why);
  const Index d = problem.dim();
  const Index p = options.width > 0 ? options.width : d;
  if (options.initial_rank > std::min(d, p))
    throw std::invalid_argument("run_restart_algorithm: initial_rank r0 = " +
                                std::to_string(options.initial_rank) + " exceeds min(d, p) = " +
                                std::to_string(std::min(d, p)));

  const SensingLoss loss(problem, loss_constant::paper000);
  const double eta = options.learning_rate;
  const double h = gd_step(eta, gd_objective_weight::paper000, loss.c());  // 8 eta
  RestartResult result;
  result.trajectory.columns = {"t", "iteration", "training_error", "test_error",
                               "rank", "current_rank", "current_norm"};
  auto grid = options.record_at.empty() ? default_record_grid(options.iterations) : options.record_at;
  RestartRecorder rec{problem, loss, h, result, {grid.begin(), grid.end()}};

  RestartRule rule(options.window, options.tau, options.segment_window);
  Index rank0 = options.initial_rank;
  double rho = options.initial_norm;
  std::uint64_t draws = 0;
  Matrix U = random_factor(d, p, rank0, rho, Rng::derive_seed(options.seed, draws));
  const auto K = options.iterations;
  auto& summary = result.trajectory.summary;

  // Called with e_k for the state U_k; returns true if U_{k+1} must be a fresh start.
  auto checkpoint = [&](std::uint64_t k, double e, const Matrix& Uk) {
    const auto ratio = rule.observe(k, e);
    if (!options.restarts || !ratio || !rule.fires(*ratio)) return false;
    if (options.stop_at_min_rank && rank0 == options.min_rank) return false;
    rho *= options.factor;
    rank0 = std::max(rank0 - options.rank_step, options.min_rank);
    result.restarts.push_back(
        {k, *ratio, rank0, rho, e, (Uk * Uk.transpose() - problem.planted).squaredNorm()});
    rule.restarted_after(k);
    rec.record.insert(k);
    rec.record.insert(k + 1);
    return true;
  };
  auto fresh_start = [&] { return random_factor(d, p, rank0, rho, Rng::derive_seed(options.seed, ++draws)); };

  if (!options.flow_stepper) {
    // Discrete Algorithm 1, exactly as written: one residual per iteration.
    Vector r;
    Matrix G;
    for (std::uint64_t k = 0; k <= K + 1; ++k) {
      loss.residual(U, r);
      const double e = r.squaredNorm();
      if (rec.record.count(k) || k == K + 1) rec.row(k, U, e, rank0, rho);
      if (!std::isfinite(e) || !U.allFinite()) {
        summary.termination = Termination::diverged;
        summary.message = "training error became non-finite at iteration " + std::to_string(k);
        break;
      }
      if (k == K + 1) break;
      loss.op().adjoint_times(r, U, G);
      Matrix next = U - eta * (4.0 * G);  // grad ||A(UU^T) - b||^2 = 4 A*(r) U
      if (checkpoint(k, e, U)) next = fresh_start();
      U = std::move(next);
      summary.last.steps = k + 1;
      summary.last.rhs = k + 1;
    }
    summary.last.t = static_cast<double>(summary.last.steps) * h;
  } else {
    // The same rule on the flow: e(t) sampled every h = 8 eta, the flow
    // integrated adaptively between checkpoints.
    FactorFlow flow(loss);
    IntegrateOptions io;
    io.stepper = *options.flow_stepper;
    io.rtol = options.rtol;
    io.atol = options.atol;
    io.step = h;
    std::uint64_t k = 0;       // the segment's first sample
    bool first_is_new = true;  // false: sample k was already fed as the previous segment's end
    while (k <= K) {
      // Segments run from k to the next checkpoint (mod(j, W) = 1) after k.
      const std::uint64_t W = options.window;
      const std::uint64_t next_checkpoint = k == 0 ? 1 : ((k - 1) / W + 1) * W + 1;
      const std::uint64_t k_end = std::min<std::uint64_t>(next_checkpoint, K + 1);
      std::vector<double> times;
      for (std::uint64_t j = k; j <= k_end; ++j) times.push_back(static_cast<double>(j) * h);
      bool restart = false;
      Watch watch;
      watch.observe = [&](const Matrix& state, const StepInfo& info) {
        const auto j = k + static_cast<std::uint64_t>(std::llround((info.t - times.front()) / h));
        if (j == k && !first_is_new) return;
        const double e = loss.training_error(state);
        if (rec.record.count(j) || j == K + 1) rec.row(j, state, e, rank0, rho);
        if (j <= K && checkpoint(j, e, state)) restart = true;  // only fires at j = k_end
      };
      Summary s = integrate(flow, U, times, io, watch);
      summary.last.steps += s.last.steps;
      summary.last.rejected += s.last.rejected;
      summary.last.rhs += s.last.rhs;
      summary.last.t = s.last.t;
      if (!s.ok()) {
        summary.termination = s.termination;
        summary.message = s.message;
        break;
      }
      if (k_end > K) break;
      if (restart) {
        U = fresh_start();  // U_{k_end + 1}
        k = k_end + 1;
        first_is_new = true;
      } else {
        k = k_end;
        first_is_new = false;
      }
    }
  }
  if (summary.message.empty()) {
    summary.message = std::to_string(result.restarts.size()) + " restart(s) in " +
                      std::to_string(K) + " iterations";
  }
  result.final_factor = U;
  return result;
}

}  // namespace flowsense
