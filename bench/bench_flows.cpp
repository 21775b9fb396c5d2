// The flowsense side of the peer benchmark (issue 5, problems 1-5); driven by
// bench/run_bench.py, which runs the peers on the same files and prints the
// table of docs/performance.md.
//
//   bench_flows prepare --out DIR [--quick]
//       writes every problem's data DIR/<problem>/{A,b,U0}.npy and meta.json,
//       then its tight reference Xref.npy (+ reference.json);
//   bench_flows run --problem DIR/<problem> --config NAME --repeats N
//                   --final U.npy --result result.json [--rtol R --atol A]
//                   [--preconditioner none|woodbury|auto] [--time flow|log|auto]
//       integrates the problem with one flowsense configuration N times
//       (--rtol, --atol: default 1e-8, 1e-12; --preconditioner:
//       StiffOptions::preconditioner, default the library's; --time:
//       IntegrateOptions::time instead of the configuration's, e.g. config
//       auto with --time flow, which the configurations do not list because
//       auto picks log time on problem 3: docs/steppers.md, "auto chooses
//       the time variable");
//   bench_flows configs --problem DIR/<problem>
//       prints the configurations worth running on that problem;
//   bench_flows sweep --out DIR --threads N [--quick]
//       the Example 1.1 sweep (problem 5) through experiment/sweep.hpp.
//
// Data layout (shared with every peer): A.npy is the m x D packed operator
// M (row i = s vech(A_i), vech = upper triangle row by row, off-diagonal
// entries times sqrt(2), core/packed.hpp), so A(X) = M vech(X) and
// A*(y) = unvech(M^T y); b.npy has length m; U0.npy is d x p. meta.json holds
// c (the flow is U' = -2c A*(A(UU^T) - b) U), the horizon T, the GD step h
// and the rest. Xref.npy is X(T) = U(T)U(T)^T of the tight reference.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/numeric/odeint.hpp>
#include <nlohmann/json.hpp>

#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/sweep.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/flow/reduced_flow.hpp"
#include "flowsense/integrate/integrate.hpp"
#include "flowsense/integrate/stop_rules.hpp"
#include "flowsense/io/atomic_file.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/version.hpp"

using namespace flowsense;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

void write_json(const std::string& path, const json& j) { write_file_atomically(path, j.dump(2) + "\n"); }

// ---- problems ------------------------------------------------------------------------

struct ProblemSpec {
  std::string name, title;
  Index d, m, p, init_rank;
  double init_norm;       ///< ||U0||_F (problems 1-3); alpha for problem 4
  GaussianScale scale;
  double c;
  double T;               ///< horizon (problem 1: set by the reference's training-error target)
  double target_rel = 0;  ///< problem 1: stop at ||A(UU^T) - b||^2 <= target_rel ||b||^2
  double gd_step;         ///< flow time of one GD iteration
  long gd_iterations;     ///< the paper's iteration count (0: until the target)
  double first_step;      ///< first trial step for explicit adaptive steppers
  /// The reference's stepper: fehlberg78 at rtol 1e-13, except where the flow
  /// stays stiff over the whole horizon (a full-rank start of norm 1e3: the
  /// part of U U^T in the null space of A, m = 240 < D = 465, never shrinks,
  /// so lambda_max(H) stays ~1e5-1e8 and an explicit reference would need
  /// ~1e8 steps); there it is auto (dopri5 + Rosenbrock) at rtol 1e-12.
  StepperKind reference = StepperKind::fehlberg78;
  /// Problem 4 (m = 5000): the reference integrates the same flow through the
  /// normal operator Q = M^T M (13 MB instead of 51 MB streamed twice per
  /// evaluation) with odeint's runge_kutta_fehlberg78 at rtol 1e-12, outside
  /// flowsense's driver: ~10x cheaper per evaluation, and independent code.
  bool reference_normal = false;
};

/// Example 1.1 of paper 000 (d = 30, m = 240, unit scale, rank-2 trace-one
/// X♮, c = 1/4, eta = 1e-4 so h = 8 eta), with the seeds of docs/steppers.md.
ProblemSpec example_1_1(std::string name, std::string title, Index rank, double norm, double T) {
  return {std::move(name), std::move(title), 30, 240, 30, rank, norm, GaussianScale::unit,
          loss_constant::paper000, T, 0.0, gd_step(1e-4, gd_objective_weight::paper000, loss_constant::paper000),
          T > 0 ? std::lround(T / 8e-4) : 0, norm > 10 ? 1e-9 : 1e-3};
}

std::vector<ProblemSpec> problem_specs(bool quick) {
  std::vector<ProblemSpec> v;
  ProblemSpec p1 = example_1_1("p1_rank2_norm1", "Example 1.1, rank-2 start, norm 1, to training error 1e-10 relative",
                               2, 1.0, 0.0);
  p1.target_rel = 1e-10;
  v.push_back(p1);
  if (quick) return v;
  v.push_back(example_1_1("p2_rank30_norm1", "Example 1.1, rank-30 start, norm 1, to t = 80 (1e5 GD iterations)", 30,
                          1.0, 80.0));
  v.push_back(example_1_1("p3_rank2_norm1e3", "Example 1.1, rank-2 start, norm 1e3, to t = 80", 2, 1e3, 80.0));
  v.push_back(example_1_1("p3_rank30_norm1e3", "Example 1.1, rank-30 start, norm 1e3, to t = 80", 30, 1e3, 80.0));
  v.back().reference = StepperKind::automatic;
  // Paper 003, Figure 1 (examples/figures_003.cpp): d = 50, r* = 5, r = 50,
  // m = 5000, alpha = 1e-3, mu = 0.005, 1e4 GD steps (h = mu, c = 1/2).
  v.push_back({"p4_003_d50_m5000", "Paper 003, d = 50, m = 5000, r = 50, alpha = 1e-3, to t = 50 (1e4 GD steps of mu = 0.005)",
               50, 5000, 50, 50, 1e-3, GaussianScale::inv_sqrt_m, loss_constant::paper003, 50.0, 0.0,
               gd_step(0.005, gd_objective_weight::paper003, loss_constant::paper003), 10000, 1e-3});
  v.back().reference_normal = true;
  return v;
}

json spec_json(const ProblemSpec& s) {
  return {{"name", s.name}, {"title", s.title}, {"d", s.d}, {"m", s.m}, {"p", s.p}, {"init_rank", s.init_rank},
          {"init_norm", s.init_norm}, {"scale", s.scale == GaussianScale::unit ? "unit" : "1/sqrt(m)"}, {"c", s.c},
          {"T", s.T}, {"target_rel", s.target_rel}, {"gd_step", s.gd_step}, {"gd_iterations", s.gd_iterations},
          {"first_step", s.first_step},
          {"reference_stepper", s.reference_normal ? "odeint fehlberg78 (normal operator)" : to_string(s.reference)}};
}

/// The data of one problem, as every tool reads it.
struct Data {
  json meta;
  Index d = 0, p = 0;
  double c = 0;
  std::shared_ptr<const GaussianOperator> op;
  Vector b;
  Matrix U0;
};

Data load(const std::string& dir) {
  Data data;
  data.meta = read_json(dir + "/meta.json");
  data.d = data.meta.at("d").get<Index>();
  data.c = data.meta.at("c").get<double>();
  const GaussianScale scale = data.meta.at("scale") == "unit" ? GaussianScale::unit : GaussianScale::inv_sqrt_m;
  data.op = std::make_shared<GaussianOperator>(data.d, read_npy_matrix(dir + "/A.npy"), scale);
  const NpyArray b = read_npy(dir + "/b.npy");
  data.b = Eigen::Map<const Vector>(b.data.data(), static_cast<Index>(b.data.size()));
  data.U0 = read_npy_matrix(dir + "/U0.npy");
  data.p = data.U0.cols();
  return data;
}

void write_vector(const std::string& path, const Vector& v) {
  write_npy(path, {v.size()}, std::vector<double>(v.data(), v.data() + v.size()));
}

/// U(T) of U' = -2c unvech(Q vech(UU^T) - q) U, Q = M^T M, q = M^T b, by odeint's
/// fehlberg78 at rtol 1e-12 on a flat state (problem 4's reference).
Matrix normal_operator_reference(const Matrix& M, const Vector& b, Index d, double c, const Matrix& U0, double T,
                                 std::uint64_t& rhs, std::size_t& steps) {
  namespace odeint = boost::numeric::odeint;
  using State = std::vector<double>;
  Matrix Q = Matrix::Zero(M.cols(), M.cols());
  Q.selfadjointView<Eigen::Lower>().rankUpdate(M.transpose());
  Q.triangularView<Eigen::StrictlyUpper>() = Q.transpose();
  const Vector q = M.transpose() * b;
  const Index p = U0.cols();
  Matrix X(d, d), S(d, d);
  Vector v(M.cols()), y(M.cols());
  rhs = 0;
  auto system = [&](const State& u, State& dudt, double) {
    Eigen::Map<const Matrix> U(u.data(), d, p);
    Eigen::Map<Matrix> dU(dudt.data(), d, p);
    X.noalias() = U * U.transpose();
    pack_symmetric(X, v);
    y.noalias() = Q * v;
    y -= q;
    unpack_symmetric(y, d, S);
    dU.noalias() = -2.0 * c * S * U;
    ++rhs;
  };
  State x(U0.data(), U0.data() + U0.size());
  steps = odeint::integrate_adaptive(
      odeint::make_controlled(1e-16, 1e-12, odeint::runge_kutta_fehlberg78<State>()), system, x, 0.0, T, 1e-4);
  return Eigen::Map<const Matrix>(x.data(), d, p);
}

/// The tight reference of the flow: fehlberg78 at rtol 1e-13 on the exact
/// reduced state (reduced_flow.hpp) when U0 is rank deficient. Problem 1
/// stops at its training-error target, which fixes T for every other tool.
void prepare_one(const ProblemSpec& spec, const std::string& dir) {
  create_directories(dir);
  // A reference made from the same specification is kept (they take minutes).
  try {
    const json old = read_json(dir + "/reference.json");
    if (old.at("spec") == spec_json(spec) && std::filesystem::exists(dir + "/Xref.npy")) {
      std::printf("  %-22s reference kept (same specification)\n", spec.name.c_str());
      return;
    }
  } catch (const std::exception&) {
  }
  std::shared_ptr<GaussianOperator> op;
  Matrix truth;
  Matrix U0;
  if (spec.name.rfind("p4", 0) == 0) {
    op = std::make_shared<GaussianOperator>(spec.d, spec.m, spec.scale, Rng::derive_seed(2023, 1 + 100 * spec.m));
    const Matrix X = Rng(Rng::derive_seed(2023, 2)).normal_matrix(spec.d, 5);
    truth = X * X.transpose();
    U0 = spec.init_norm * Rng(Rng::derive_seed(2023, 3)).normal_matrix(spec.d, spec.p);
  } else {
    op = std::make_shared<GaussianOperator>(spec.d, spec.m, spec.scale, 1);
    truth = planted_trace_one(spec.d, 2, 2);
    U0 = random_factor(spec.d, spec.p, spec.init_rank, spec.init_norm, 3);
  }
  const Problem problem = Problem::noiseless(op, truth);
  write_npy(dir + "/A.npy", op->packed_rows());
  write_vector(dir + "/b.npy", problem.b);
  write_npy(dir + "/U0.npy", U0);
  write_npy(dir + "/Xtrue.npy", truth);

  SensingLoss loss(problem, spec.c);
  FactorFlow flow(loss);
  const ReducedFactor red = reduce_initial_factor(U0, 1e-12);
  Matrix L = red.L;
  IntegrateOptions o;
  o.stepper = spec.reference;
  o.rtol = spec.reference == StepperKind::fehlberg78 ? 1e-13 : 1e-12;
  o.atol = 1e-16 * std::max(1.0, spec.init_norm);
  o.step = spec.init_norm > 10 ? 1e-10 : 1e-4;
  Watch watch;
  double T = spec.T;
  if (spec.target_rel > 0) {
    watch.stop_rules.push_back(
        std::make_shared<TrainingErrorBelow>(loss, StateKind::factor, spec.target_rel, true, 1));
    T = 100.0;  // a bound; the stop rule ends the run
  }
  const auto t0 = Clock::now();
  Summary s;
  if (spec.reference_normal) {
    std::size_t steps = 0;
    L = normal_operator_reference(op->packed_rows(), problem.b, spec.d, spec.c, U0, T, s.last.rhs, steps);
    s.last.steps = steps;
    s.last.t = T;
    s.stepper_used = "odeint fehlberg78 on the normal operator";
    o.rtol = 1e-12;
  } else {
    s = integrate(flow, L, {0.0, T}, o, watch);
  }
  const double wall = seconds_since(t0);
  if (!s.ok()) throw std::runtime_error(spec.name + ": reference run failed: " + s.message);
  ProblemSpec final_spec = spec;
  final_spec.T = s.last.t;
  if (spec.target_rel > 0) final_spec.gd_iterations = std::lround(std::ceil(s.last.t / spec.gd_step));
  const Matrix X = L * L.transpose();
  write_npy(dir + "/Xref.npy", X);
  write_json(dir + "/meta.json", spec_json(final_spec));
  write_json(dir + "/reference.json",
             {{"method", spec.reference_normal ? "odeint fehlberg78 on the normal operator Q = M^T M, rtol 1e-12, atol 1e-16" : "flowsense " + to_string(o.stepper) + " (" + s.stepper_used + "), rtol " + fmt(o.rtol) +
                             ", atol " + fmt(o.atol) +
                             (red.reduces() ? ", reduced state d x " + std::to_string(red.rank) : ", full state")},
              {"spec", spec_json(spec)},
              {"T", s.last.t}, {"steps", s.last.steps}, {"rhs", s.last.rhs}, {"wall_seconds", wall},
              {"termination", to_string(s.termination)}, {"training_error", loss.training_error(L)},
              {"training_error_relative", loss.training_error(L) / problem.b.squaredNorm()}});
  std::printf("  %-22s T = %-10.6g reference (%s): %8llu steps, %9llu rhs, %6.1f s, training error %.3e\n",
              spec.name.c_str(), s.last.t, s.stepper_used.c_str(), static_cast<unsigned long long>(s.last.steps),
              static_cast<unsigned long long>(s.last.rhs), wall, loss.training_error(L));
  std::fflush(stdout);
}

// ---- flowsense configurations ---------------------------------------------------------

struct Config {
  std::string name;
  StepperKind stepper;
  bool reduced;
  int threads = 1;  ///< threads of the operator's products, either form (loss/operator_form.hpp)
  bool log_time = false;  ///< integrate in log time (integrate/log_time.hpp), tau automatic
  OperatorForm form = OperatorForm::automatic;  ///< automatic: the cost model's choice
};

std::vector<Config> configs_for(const Data& data) {
  const bool deficient = data.meta.at("init_rank").get<Index>() < data.p;
  std::vector<Config> v;
  // The papers' GD itself (explicit Euler with step h = gd_step): compared
  // with the NumPy GD loops under their rule (problem 1: until the
  // training-error target; otherwise the paper's iteration count).
  v.push_back({"gd", StepperKind::euler, deficient});
  for (bool reduced : deficient ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    const std::string prefix = reduced ? "reduced+" : "";
    v.push_back({prefix + "dopri5", StepperKind::dopri5, reduced});
    v.push_back({prefix + "auto", StepperKind::automatic, reduced});
    v.push_back({prefix + "auto+logtime", StepperKind::automatic, reduced, 1, true});
    v.push_back({prefix + "bdf", StepperKind::bdf, reduced});
    // bdf in log time on every problem: it pays in the self-similar collapse
    // of large starts (problem 3) and nowhere else; the table shows both.
    v.push_back({prefix + "bdf+logtime", StepperKind::bdf, reduced, 1, true});
    if (data.meta.at("T").get<double>() > 10) {
      v.push_back({prefix + "rosenbrock", StepperKind::rosenbrock, reduced});
      v.push_back({prefix + "rkc", StepperKind::rkc, reduced});
    }
  }
  // Large operators (problem 4): the same on 2 threads (the threaded part is
  // the normal operator's product, which the cost model picks there).
  if (data.op->measurements() >= 1000) {
    const std::size_t n = v.size();
    for (std::size_t i = 0; i < n; ++i)
      if ((v[i].stepper == StepperKind::euler || v[i].stepper == StepperKind::dopri5 ||
           v[i].stepper == StepperKind::automatic || v[i].stepper == StepperKind::bdf) &&
          !v[i].log_time) {
        Config c = v[i];
        c.name += "+2threads";
        c.threads = 2;
        v.push_back(c);
      }
  }
  // Small operators (Example 1.1): the cost model keeps the plain form;
  // NumPy's best GD loop there is its normal form on 2 threads, so
  // flowsense's GD gets the same form by request, on 1 thread and on 2
  // (which loses to 1 when the other core is busy), and the plain form on
  // 2 threads.
  if (data.op->measurements() < 1000) {
    Config c = v.front();
    c.name = "gd+normal";
    c.form = OperatorForm::normal;
    v.push_back(c);
    c.name = "gd+normal+2threads";
    c.threads = 2;
    v.push_back(c);
    // The plain form on 2 threads (core/block_gemv.hpp: each thread streams
    // its half of the 893 KB operator, which stays in its own L2).
    c = v.front();
    c.name = "gd+2threads";
    c.threads = 2;
    v.push_back(c);
  }
  return v;
}

int cmd_run(const std::string& dir, const std::string& config_name, int repeats, const std::string& final_path,
            const std::string& result_path, double rtol, double atol, double budget_seconds,
            const std::string& preconditioner, const std::string& time) {
  const Data data = load(dir);
  const auto configs = configs_for(data);
  auto it = std::find_if(configs.begin(), configs.end(), [&](const Config& c) { return c.name == config_name; });
  if (it == configs.end()) throw std::invalid_argument("unknown config '" + config_name + "' for " + dir);
  const Config cfg = *it;
  // The operator form is flowsense's default (automatic: the cost model of
  // loss/operator_form.hpp picks the normal operator Q = M^T M where it is
  // cheaper) unless the configuration asks for a form.
  OperatorFormOptions form;
  form.form = cfg.form;
  form.threads = cfg.threads;
  IntegrateOptions o;
  o.stepper = cfg.stepper;
  o.rtol = rtol;
  o.atol = atol;
  o.step = data.meta.at("first_step").get<double>();
  if (cfg.log_time) o.time = TimeVariable::log;
  if (!time.empty()) {
    if (time != "flow" && time != "log" && time != "auto")
      throw std::invalid_argument("--time: expected flow, log or auto, got '" + time + "'");
    o.time = time == "flow" ? TimeVariable::flow : time == "log" ? TimeVariable::log : TimeVariable::automatic;
  }
  if (!preconditioner.empty()) {
    const auto p = preconditioner_from_string(preconditioner);
    if (!p) throw std::invalid_argument("--preconditioner: expected none, woodbury or auto, got '" + preconditioner + "'");
    o.stiff.preconditioner = *p;
  }
  double T = data.meta.at("T").get<double>();
  const double target_rel = data.meta.at("target_rel").get<double>();
  const bool gd = cfg.stepper == StepperKind::euler;
  if (gd) {
    o.step = data.meta.at("gd_step").get<double>();
    const long iterations = data.meta.at("gd_iterations").get<long>();
    // With a target: at most 3x the iterations of the flow's horizon (as the NumPy loops).
    T = static_cast<double>(target_rel > 0 ? 3 * iterations : iterations) * o.step;
  }
  std::vector<double> walls;
  Summary s;
  Matrix U;
  std::string form_report;
  for (int r = 0; r < repeats; ++r) {
    // A new loss in every repeat, inside the timed region: the loss builds
    // the normal operator Q = M^T M (where it uses it) at its first
    // evaluation and keeps it, so a loss shared by the repeats would leave
    // that build out of every repeat but the first, and out of the median,
    // while the NumPy loops on Q form it inside their timed region.
    const auto t0 = Clock::now();
    SensingLoss loss(data.op, data.b, data.c, form);
    FactorFlow flow(loss);
    Watch watch;
    if (budget_seconds > 0) watch.stop_rules.push_back(std::make_shared<Budget>(0, 0, budget_seconds));
    if (gd) {
      if (target_rel > 0)
        watch.stop_rules.push_back(std::make_shared<TrainingErrorBelow>(loss, StateKind::factor, target_rel, true, 1));
      watch.stop_rules.push_back(std::make_shared<NormAbove>(1e8));
    }
    Matrix state;
    ReducedFactor red;
    if (cfg.reduced) {
      red = reduce_initial_factor(data.U0, 1e-12);
      state = red.L;
    } else {
      state = data.U0;
    }
    s = integrate(flow, state, {0.0, T}, o, watch);
    U = cfg.reduced ? expand_factor(state, red.R) : state;
    walls.push_back(seconds_since(t0));
    form_report = loss.operator_form_report();
    if (!s.ok() || walls.back() > 20.0) break;  // slow or failed runs are not repeated
  }
  write_npy(final_path, U);
  // GD with a target that ends at its iteration cap has missed the target.
  const bool missed = gd && target_rel > 0 && s.termination == Termination::completed;
  const std::string status = missed ? "target not reached"
                             : s.ok() ? "ok"
                             : s.termination == Termination::diverged ? "diverged"
                             : s.termination == Termination::budget_exhausted ? "timeout"
                                                                             : to_string(s.termination);
  write_json(result_path, {{"tool", "flowsense"},
                           {"method", time.empty() ? cfg.name : cfg.name + " --time " + time},
                           {"detail", s.stepper_used + (s.stepper_choice.empty() ? "" : "; " + s.stepper_choice) +
                                          "; " + form_report},
                           {"status", status},
                           {"message", s.message},
                           {"wall", walls},
                           {"rhs", s.last.rhs},
                           {"jvp", s.last.jvp},
                           {"steps", s.last.steps},
                           {"stiff", {{"jacobians", s.stiff.jacobians},
                                      {"linear_solves", s.stiff.linear_solves},
                                      {"krylov_iterations", s.stiff.krylov_iterations},
                                      {"krylov_failures", s.stiff.krylov_failures},
                                      {"preconditioner_builds", s.stiff.preconditioner_builds},
                                      {"preconditioner_applications", s.stiff.preconditioner_applications},
                                      {"preconditioner_factorizations", s.stiff.preconditioner_factorizations}}},
                           {"t_end", s.last.t},
                           {"rtol", rtol},
                           {"atol", atol},
                           {"time", to_string(o.time)},
                           {"version", flowsense::version}});
  return 0;
}

// ---- problem 5: the Example 1.1 sweep -------------------------------------------------

int cmd_sweep(const std::string& out, int threads, bool quick, const std::string& result_path) {
  // The whole Example 1.1 grid of docs/example_1_1.md: 2 ranks x 3 norms x
  // 3 trials, the flow with stepper auto (the choice docs/steppers.md
  // recommends for long horizons), observed on 61 log-spaced GD iterations.
  json base = {{"description", "bench: Example 1.1 sweep (problem 5)"},
               {"seed", 2024},
               {"dim", 30},
               {"operator", {{"type", "gaussian"}, {"measurements", 240}, {"scale", "unit"}}},
               {"planted", {{"type", "trace_one"}, {"rank", 2}}},
               {"loss", {{"convention", "paper000"}, {"learning_rate", 1e-4}}},
               {"init", {{"type", "random"}, {"rank", 2}, {"width", 30}, {"norm", 1.0}}},
               {"stepper", {{"type", "auto"}, {"rtol", 1e-8}, {"atol", 1e-12}, {"first_step", 1e-9}}},
               {"times",
                {{"type", "gd_iterations"}, {"spacing", "log"}, {"first", 1}, {"last", quick ? 2000 : 100000},
                 {"points", 61}}},
               {"observe", {{"rank_tol", 1e-8}, {"singular_values", 4}, {"snapshots", "none"}}}};
  json sweep = {{"seed", 7},
                {"base", base},
                {"grid",
                 json::array({{{"field", "init.rank"}, {"values", {2, 30}}},
                              {{"field", "init.norm"}, {"values", {1e-3, 1.0, 1e3}}}})},
                {"trials", 3},
                {"trial_fields", {"init.seed"}}};
  const SweepSpec spec = parse_sweep(sweep, ".");
  std::filesystem::remove_all(out);  // a fresh sweep: run_sweep would resume
  SweepOptions options;
  options.threads = threads;
  const auto t0 = Clock::now();
  const SweepReport report = run_sweep(spec, out, options);
  const double wall = seconds_since(t0);
  write_json(result_path, {{"tool", "flowsense"},
                           {"method", "run_sweep, stepper auto, " + std::to_string(threads) + " thread(s)"},
                           {"threads", threads},
                           {"status", report.failed == 0 ? "ok" : "failed"},
                           {"wall", {wall}},
                           {"runs", report.total},
                           {"completed", report.completed},
                           {"failed", report.failed}});
  std::printf("  sweep, %d thread(s): %zu runs, %.2f s\n", threads, report.total, wall);
  return report.failed == 0 ? 0 : 1;
}

// ---- command line ----------------------------------------------------------------------

std::map<std::string, std::string> parse_args(int argc, char** argv, int first) {
  std::map<std::string, std::string> a;
  for (int i = first; i < argc; ++i) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + key + "'");
    key = key.substr(2);
    if (key == "quick") {
      a[key] = "1";
    } else {
      if (i + 1 >= argc) throw std::invalid_argument("--" + key + " needs a value");
      a[key] = argv[++i];
    }
  }
  return a;
}

std::string need(const std::map<std::string, std::string>& a, const std::string& key) {
  auto it = a.find(key);
  if (it == a.end()) throw std::invalid_argument("missing --" + key);
  return it->second;
}

std::string get(const std::map<std::string, std::string>& a, const std::string& key, const std::string& fallback) {
  auto it = a.find(key);
  return it == a.end() ? fallback : it->second;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr, "usage: bench_flows prepare|configs|run|sweep [options] (see the source's header)\n");
      return 2;
    }
    const std::string cmd = argv[1];
    const auto a = parse_args(argc, argv, 2);
    if (cmd == "prepare") {
      const std::string out = need(a, "out");
      const bool quick = a.count("quick") > 0;
      json list = json::array();
      std::printf("[bench] problems and references (flowsense fehlberg78 at rtol 1e-13 unless said):\n");
      for (const ProblemSpec& spec : problem_specs(quick)) {
        prepare_one(spec, out + "/" + spec.name);
        list.push_back(spec.name);
      }
      write_json(out + "/problems.json", list);
      return 0;
    }
    if (cmd == "configs") {
      for (const Config& c : configs_for(load(need(a, "problem")))) std::printf("%s\n", c.name.c_str());
      return 0;
    }
    if (cmd == "run")
      return cmd_run(need(a, "problem"), need(a, "config"), std::stoi(get(a, "repeats", "1")), need(a, "final"),
                     need(a, "result"), std::stod(get(a, "rtol", "1e-8")), std::stod(get(a, "atol", "1e-12")),
                     std::stod(get(a, "budget", "0")), get(a, "preconditioner", ""), get(a, "time", ""));
    if (cmd == "sweep")
      return cmd_sweep(need(a, "out"), std::stoi(need(a, "threads")), a.count("quick") > 0, need(a, "result"));
    std::fprintf(stderr, "bench_flows: unknown command '%s'\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_flows: %s\n", e.what());
    return 1;
  }
}
