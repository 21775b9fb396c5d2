#include "flowsense/experiment/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/io/npy.hpp"
#include "flowsense/loss/sensing_loss.hpp"
#include "flowsense/observe/metrics.hpp"

namespace flowsense {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// flowsense holds dense d x d matrices; a larger d is a typo, not a run.
constexpr Index max_dim = 20000;
constexpr std::int64_t max_points = 10'000'000;

std::string resolve_path(const std::string& path, const std::string& base_dir) {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base_dir.empty() ? "." : base_dir) / p;
  return fs::absolute(p).lexically_normal().string();
}

/// Reads a matrix from the .npy file named by `key`; a file error becomes an
/// error of the field, with the file's own message.
Matrix load_matrix(const Fields& f, const std::string& key, const std::string& base_dir, std::string& resolved) {
  const std::string given = f.string(key);
  if (given.empty()) f.fail(key, "expected the path of a .npy file, got an empty string");
  resolved = resolve_path(given, base_dir);
  try {
    return read_npy_matrix(resolved);
  } catch (const InputError& e) {
    f.fail(key, e.what());
  }
}

/// A measured quantity in a message: three significant digits are enough.
std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::int64_t int_in(const Fields& f, const std::string& key, std::int64_t value, std::int64_t lo, std::int64_t hi,
                    const std::string& range) {
  if (value < lo || value > hi) f.fail(key, "expected an integer in " + range + ", got " + std::to_string(value));
  return value;
}

/// Allow the fields of the chosen `type` branch; if "type" itself is absent,
/// first reject names that belong to no branch (a misspelt "type" is likelier).
void allow_for_type(const Fields& f, const std::vector<std::vector<std::string>>& all_branches) {
  if (f.has("type")) return;
  std::vector<std::string> any = {"type"};
  for (const auto& b : all_branches) any.insert(any.end(), b.begin(), b.end());
  std::sort(any.begin(), any.end());
  any.erase(std::unique(any.begin(), any.end()), any.end());
  f.allow_only(any);
}

std::vector<std::string> with_type(std::vector<std::string> fields) {
  fields.insert(fields.begin(), "type");
  return fields;
}

// ---------------------------------------------------------------- flow

/// "flow": "factor" | "gram", or an object {"type", "reduced", "reduced_rank_tol", "gram_gap"}.
FlowConfig parse_flow(const Fields& top) {
  FlowConfig fc;
  const std::vector<std::string> kinds = {"factor", "gram"};
  if (top.raw("flow").is_string()) {
    fc.type = top.choice("flow", kinds, "flow") == "gram" ? FlowKind::gram : FlowKind::factor;
    return fc;
  }
  const Fields f = top.object("flow");
  fc.type = f.choice("type", kinds, "flow", "factor") == "gram" ? FlowKind::gram : FlowKind::factor;
  if (fc.type == FlowKind::gram) {
    // The X flow has no factor to reduce; naming the reduction is a mistake worth reporting.
    if (f.has("reduced") || f.has("reduced_rank_tol"))
      f.fail(f.has("reduced") ? "reduced" : "reduced_rank_tol",
             "the reduced flow is a factor flow; flow.type 'gram' integrates the d x d matrix X (allowed "
             "fields: type, gram_gap)");
    f.allow_only({"type", "gram_gap"});
  } else {
    f.allow_only({"type", "reduced", "reduced_rank_tol", "gram_gap"});
    fc.reduced = f.choice("reduced", {"auto", "off"}, "reduced-flow choice", "auto") == "off"
                     ? ReducedChoice::off
                     : ReducedChoice::automatic;
    fc.reduced_rank_tol = f.number("reduced_rank_tol", fc.reduced_rank_tol);
    if (!(fc.reduced_rank_tol >= 0 && fc.reduced_rank_tol < 1))
      f.fail("reduced_rank_tol", "expected a relative tolerance in [0, 1), got " + format_number(fc.reduced_rank_tol));
  }
  fc.gram_gap = f.boolean("gram_gap", false);
  return fc;
}

json to_json(const FlowConfig& fc) {
  json j = {{"type", to_string(fc.type)}};
  if (fc.type == FlowKind::factor) {
    j["reduced"] = to_string(fc.reduced);
    j["reduced_rank_tol"] = fc.reduced_rank_tol;
  }
  j["gram_gap"] = fc.gram_gap;
  return j;
}

// ---------------------------------------------------------------- planted

const std::vector<std::string> planted_trace_one_fields = {"rank", "seed"};
const std::vector<std::string> planted_orthogonal_fields = {"eigenvalues", "seed"};
const std::vector<std::string> planted_file_fields = {"path", "symmetry_tol", "psd_tol"};

PlantedConfig parse_planted(const Fields& f, std::optional<Index>& dim, std::uint64_t run_seed,
                            const std::string& base_dir) {
  allow_for_type(f, {planted_trace_one_fields, planted_orthogonal_fields, planted_file_fields});
  PlantedConfig p;
  const std::string type = f.choice("type", {"trace_one", "orthogonal", "file"}, "planted model");
  const std::uint64_t derived = Rng::derive_seed(run_seed, seed_stream::planted);
  if (type == "trace_one") {
    f.allow_only(with_type(planted_trace_one_fields));
    p.type = PlantedKind::trace_one;
    p.rank = int_in(f, "rank", f.integer("rank"), 1, *dim, "[1, d = " + std::to_string(*dim) + "]");
    p.seed = f.has("seed") ? f.seed("seed") : derived;
  } else if (type == "orthogonal") {
    f.allow_only(with_type(planted_orthogonal_fields));
    p.type = PlantedKind::orthogonal;
    p.eigenvalues = f.numbers("eigenvalues");
    if (p.eigenvalues.empty()) f.fail("eigenvalues", "expected at least one eigenvalue, got []");
    if (static_cast<Index>(p.eigenvalues.size()) > *dim)
      f.fail("eigenvalues", "expected at most d = " + std::to_string(*dim) + " eigenvalues, got " +
                                std::to_string(p.eigenvalues.size()));
    for (std::size_t i = 0; i < p.eigenvalues.size(); ++i)
      if (!(p.eigenvalues[i] > 0) || !std::isfinite(p.eigenvalues[i]))
        throw InputError(f.path("eigenvalues") + "[" + std::to_string(i) + "]",
                         "expected a positive eigenvalue, got " + format_number(p.eigenvalues[i]));
    p.seed = f.has("seed") ? f.seed("seed") : derived;
  } else {
    f.allow_only(with_type(planted_file_fields));
    p.type = PlantedKind::file;
    p.symmetry_tol = f.number("symmetry_tol", p.symmetry_tol);
    f.require_nonnegative("symmetry_tol", p.symmetry_tol);
    p.psd_tol = f.number("psd_tol", p.psd_tol);
    f.require_nonnegative("psd_tol", p.psd_tol);
    Matrix X = load_matrix(f, "path", base_dir, p.path);
    if (X.rows() != X.cols())
      f.fail("path", p.path + ": the planted matrix must be square (d x d), got " + std::to_string(X.rows()) +
                         " x " + std::to_string(X.cols()));
    if (dim && X.rows() != *dim)
      f.fail("path", p.path + ": expected a " + std::to_string(*dim) + " x " + std::to_string(*dim) +
                         " matrix (dim = " + std::to_string(*dim) + "), got " + std::to_string(X.rows()) + " x " +
                         std::to_string(X.cols()));
    if (X.rows() < 1) f.fail("path", p.path + ": the planted matrix is empty (0 x 0)");
    if (!dim) dim = X.rows();
    const double asym = (X - X.transpose()).norm(), size = X.norm();
    if (asym > p.symmetry_tol * size)
      f.fail("path", p.path + ": the planted matrix is not symmetric: ||X - X^T||_F / ||X||_F = " +
                         short_number(asym / size) + " > symmetry_tol = " + format_number(p.symmetry_tol));
    X = Matrix(0.5 * (X + X.transpose()));  // a temporary: X + X^T into X would alias
    Eigen::SelfAdjointEigenSolver<Matrix> eig(X, Eigen::EigenvaluesOnly);
    const double lo = eig.eigenvalues().minCoeff();
    const double top = eig.eigenvalues().cwiseAbs().maxCoeff();
    if (lo < -p.psd_tol * top)
      f.fail("path", p.path + ": the planted matrix is not positive semidefinite: lambda_min / max|lambda| = " +
                         short_number(lo / top) + " < -psd_tol = -" + format_number(p.psd_tol));
    p.matrix = std::move(X);
  }
  return p;
}

json to_json(const PlantedConfig& p) {
  switch (p.type) {
    case PlantedKind::trace_one: return {{"type", "trace_one"}, {"rank", p.rank}, {"seed", p.seed}};
    case PlantedKind::orthogonal: return {{"type", "orthogonal"}, {"eigenvalues", p.eigenvalues}, {"seed", p.seed}};
    case PlantedKind::file:
      return {{"type", "file"}, {"path", p.path}, {"symmetry_tol", p.symmetry_tol}, {"psd_tol", p.psd_tol}};
  }
  return {};
}

// ---------------------------------------------------------------- noise

NoiseConfig parse_noise(const Fields& f, std::uint64_t run_seed) {
  f.allow_only({"sigma", "seed"});
  NoiseConfig n;
  n.sigma = f.number("sigma");
  if (!(n.sigma >= 0) || !std::isfinite(n.sigma))
    f.fail("sigma", "expected a noise level sigma >= 0 (b = A(X) + sigma eps, eps ~ N(0, I_m)), got " +
                        format_number(n.sigma));
  n.seed = f.has("seed") ? f.seed("seed") : Rng::derive_seed(run_seed, seed_stream::noise);
  return n;
}

json to_json(const NoiseConfig& n) { return {{"sigma", n.sigma}, {"seed", n.seed}}; }

// ---------------------------------------------------------------- loss

LossConfig parse_loss(const Fields& f) {
  f.allow_only({"convention", "c", "gd_objective_weight", "learning_rate", "operator_form", "threads",
                "fused_memory_limit_mb"});
  LossConfig l;
  if (f.has("convention")) {
    l.convention = f.choice("convention", {"paper000", "paper003"}, "convention");
    const bool p0 = l.convention == "paper000";
    l.c = p0 ? loss_constant::paper000 : loss_constant::paper003;
    l.gd_objective_weight = p0 ? gd_objective_weight::paper000 : gd_objective_weight::paper003;
    if (f.has("c") && f.number("c") != l.c)
      f.fail("c", "c = " + format_number(f.number("c")) + " contradicts convention '" + l.convention +
                      "' (c = " + format_number(l.c) + "); give one or the other");
    if (f.has("gd_objective_weight") && f.number("gd_objective_weight") != l.gd_objective_weight)
      f.fail("gd_objective_weight", "gd_objective_weight = " + format_number(f.number("gd_objective_weight")) +
                                        " contradicts convention '" + l.convention + "' (w = " +
                                        format_number(l.gd_objective_weight) + "); give one or the other");
  } else {
    f.require("c", "a positive loss constant c, or \"convention\": \"paper000\" | \"paper003\"");
    l.c = f.number("c");
    f.require_positive("c", l.c);
    // Without a convention the learning rate is on G_c itself: h = lr, w = c/2.
    l.gd_objective_weight = f.number("gd_objective_weight", l.c / 2);
    f.require_positive("gd_objective_weight", l.gd_objective_weight);
  }
  if (f.has("learning_rate")) {
    l.learning_rate = f.number("learning_rate");
    f.require_positive("learning_rate", *l.learning_rate);
  }
  if (f.has("operator_form"))
    l.operator_form.form =
        parse_operator_form(f.choice("operator_form", {"automatic", "plain", "normal"}, "operator form"));
  l.operator_form.threads = static_cast<int>(f.integer("threads", 1));
  if (l.operator_form.threads < 1 || l.operator_form.threads > 256)
    f.fail("threads", "expected an integer in [1, 256], got " + std::to_string(l.operator_form.threads));
  if (f.has("fused_memory_limit_mb")) {
    const double mb = f.number("fused_memory_limit_mb");
    if (!(mb >= 0) || !std::isfinite(mb))
      f.fail("fused_memory_limit_mb", "expected a number of MiB >= 0 (0: never copy M), got " + format_number(mb));
    l.operator_form.fused_memory_limit = mb * 1048576.0;
  }
  return l;
}

json to_json(const LossConfig& l) {
  json j;
  if (!l.convention.empty()) j["convention"] = l.convention;
  j["c"] = l.c;
  j["gd_objective_weight"] = l.gd_objective_weight;
  if (l.learning_rate) j["learning_rate"] = *l.learning_rate;
  j["operator_form"] = to_string(l.operator_form.form);
  j["threads"] = l.operator_form.threads;
  j["fused_memory_limit_mb"] = l.operator_form.fused_memory_limit / 1048576.0;
  return j;
}

// ---------------------------------------------------------------- init

const std::vector<std::string> init_random_fields = {"rank", "width", "norm", "seed"};
const std::vector<std::string> init_file_fields = {"path"};

InitConfig parse_init(const Fields& f, Index d, std::uint64_t run_seed, const std::string& base_dir) {
  allow_for_type(f, {init_random_fields, init_file_fields});
  InitConfig in;
  const std::string type = f.choice("type", {"random", "file"}, "initialization", "random");
  if (type == "random") {
    f.allow_only(with_type(init_random_fields));
    in.type = InitKind::random;
    in.width = int_in(f, "width", f.integer("width", d), 1, max_dim, "[1, " + std::to_string(max_dim) + "]");
    const Index top = std::min(d, in.width);
    in.rank = int_in(f, "rank", f.integer("rank"), 1, top,
                     "[1, min(d, width) = " + std::to_string(top) + "]");
    in.norm = f.number("norm");
    f.require_positive("norm", in.norm);
    in.seed = f.has("seed") ? f.seed("seed") : Rng::derive_seed(run_seed, seed_stream::init);
  } else {
    f.allow_only(with_type(init_file_fields));
    in.type = InitKind::file;
    in.matrix = load_matrix(f, "path", base_dir, in.path);
    if (in.matrix.rows() != d || in.matrix.cols() < 1)
      f.fail("path", in.path + ": expected a d x p matrix with d = " + std::to_string(d) + " and p >= 1, got " +
                         std::to_string(in.matrix.rows()) + " x " + std::to_string(in.matrix.cols()));
    in.width = in.matrix.cols();
    in.norm = in.matrix.norm();
  }
  return in;
}

json to_json(const InitConfig& in) {
  if (in.type == InitKind::file) return {{"type", "file"}, {"path", in.path}};
  return {{"type", "random"}, {"rank", in.rank}, {"width", in.width}, {"norm", in.norm}, {"seed", in.seed}};
}

// ---------------------------------------------------------------- stepper

void require_learning_rate(const LossConfig& loss, const std::string& because) {
  if (!loss.learning_rate)
    throw InputError("loss.learning_rate", "missing required field (expected a positive GD learning rate): " + because);
}

/// The options of the stiff steppers (integrate/stepper.hpp, StiffOptions),
/// with the ranges of StiffOptions::validate().
StiffOptions parse_stiff(const Fields& f) {
  f.allow_only({"dense_max_size", "jacobian_max_age", "krylov_tolerance", "krylov_restart", "krylov_max_iterations",
                "rkc_max_stages", "rkc_refresh_steps", "spectral_iterations", "auto_explicit_steps",
                "preconditioner"});
  StiffOptions o;
  constexpr std::int64_t big = 1'000'000'000;
  auto count = [&](const std::string& key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
    return int_in(f, key, f.integer(key, fallback), lo, hi,
                  "[" + std::to_string(lo) + ", " + (hi == big ? std::string("1e9") : std::to_string(hi)) + "]");
  };
  o.dense_max_size = count("dense_max_size", o.dense_max_size, 0, std::numeric_limits<std::int64_t>::max() / 2);
  o.jacobian_max_age = static_cast<int>(count("jacobian_max_age", o.jacobian_max_age, 1, big));
  o.krylov_tolerance = f.number("krylov_tolerance", o.krylov_tolerance);
  if (!(o.krylov_tolerance > 0 && o.krylov_tolerance < 1))
    f.fail("krylov_tolerance", "expected a fraction in (0, 1), got " + format_number(o.krylov_tolerance));
  o.krylov_restart = static_cast<int>(count("krylov_restart", o.krylov_restart, 2, big));
  o.krylov_max_iterations = static_cast<int>(count("krylov_max_iterations", o.krylov_max_iterations, 1, big));
  o.rkc_max_stages = static_cast<int>(count("rkc_max_stages", o.rkc_max_stages, 2, 10000));
  o.rkc_refresh_steps = static_cast<int>(count("rkc_refresh_steps", o.rkc_refresh_steps, 1, big));
  o.spectral_iterations = static_cast<int>(count("spectral_iterations", o.spectral_iterations, 2, big));
  o.auto_explicit_steps = f.number("auto_explicit_steps", o.auto_explicit_steps);
  f.require_nonnegative("auto_explicit_steps", o.auto_explicit_steps);
  o.preconditioner = *preconditioner_from_string(
      f.choice("preconditioner", {"none", "woodbury", "auto"}, "preconditioner", to_string(o.preconditioner)));
  if (const std::string problem = o.validate(); !problem.empty()) throw InputError(f.path(), problem);
  return o;
}

json to_json(const StiffOptions& o) {
  return {{"dense_max_size", o.dense_max_size},
          {"jacobian_max_age", o.jacobian_max_age},
          {"krylov_tolerance", o.krylov_tolerance},
          {"krylov_restart", o.krylov_restart},
          {"krylov_max_iterations", o.krylov_max_iterations},
          {"rkc_max_stages", o.rkc_max_stages},
          {"rkc_refresh_steps", o.rkc_refresh_steps},
          {"spectral_iterations", o.spectral_iterations},
          {"auto_explicit_steps", o.auto_explicit_steps},
          {"preconditioner", to_string(o.preconditioner)}};
}

StepperConfig parse_stepper(const Fields& f, const LossConfig& loss) {
  allow_for_type(f, {{"step"}, {"rtol", "atol", "first_step", "max_step", "time", "log_time_scale", "stiff"}});
  StepperConfig s;
  std::vector<std::string> names = {"gd"};
  for (const auto& [kind, name] : stepper_names()) names.push_back(name);
  const std::string type = f.choice("type", names, "stepper");
  if (type == "gd") {
    f.allow_only({"type"});
    require_learning_rate(loss, "the 'gd' stepper is Euler with the GD step h = gd_step(learning_rate, w, c)");
    s.gd = true;
    s.options.stepper = StepperKind::euler;
    s.options.step = loss.gd_step();
    return s;
  }
  s.options.stepper = *stepper_from_string(type);
  if (!is_adaptive(s.options.stepper)) {
    f.allow_only({"type", "step"});
    s.options.step = f.number("step");
    f.require_positive("step", s.options.step);
    return s;
  }
  const bool stiff = uses_stiff_options(s.options.stepper);
  if (stiff) f.allow_only({"type", "rtol", "atol", "first_step", "max_step", "time", "log_time_scale", "stiff"});
  else f.allow_only({"type", "rtol", "atol", "first_step", "max_step", "time", "log_time_scale"});
  if (stiff && f.has("stiff")) s.options.stiff = parse_stiff(f.object("stiff"));
  s.options.rtol = f.number("rtol", s.options.rtol);
  if (!(s.options.rtol > 0 && s.options.rtol < 1))
    f.fail("rtol", "expected a relative tolerance in (0, 1), got " + format_number(s.options.rtol));
  s.options.atol = f.number("atol", s.options.atol);
  f.require_nonnegative("atol", s.options.atol);
  s.options.step = f.number("first_step", loss.learning_rate ? loss.gd_step() : 1e-3);
  f.require_positive("first_step", s.options.step);
  s.options.max_step = f.number("max_step", 0.0);
  f.require_nonnegative("max_step", s.options.max_step);
  // Log time (integrate/log_time.hpp): the self-similar collapse of large
  // starts. "auto" (stepper auto's default) lets auto choose flow or log from
  // a measurement at the start (integrate/auto_stepper.hpp); the other
  // steppers run in flow time unless told.
  const bool chooses = s.options.stepper == StepperKind::automatic;
  s.options.time = chooses ? TimeVariable::automatic : TimeVariable::flow;
  if (f.has("time")) {
    const std::string time = f.choice("time", {"flow", "log", "auto"}, "time variable");
    if (time == "auto" && !chooses)
      f.fail("time", "\"auto\" (choose flow or log time at the start) is only for stepper \"auto\", got it with "
                     "stepper \"" + type + "\"; use \"flow\" or \"log\"");
    s.options.time = time == "log" ? TimeVariable::log : time == "auto" ? TimeVariable::automatic : TimeVariable::flow;
  }
  if (s.options.time == TimeVariable::log && s.options.max_step > 0)
    f.fail("max_step", "a flow-time bound on the step is not supported with \"time\": \"log\" "
                       "(steps are taken in s = log1p(t / tau)); remove max_step or use \"time\": \"flow\"");
  if (f.has("log_time_scale")) {
    if (s.options.time == TimeVariable::flow)
      f.fail("log_time_scale", "only used with \"time\": \"log\" (or \"auto\" when auto chooses log time); "
                               "add it or remove log_time_scale");
    s.options.log_time_scale = f.number("log_time_scale");
    f.require_positive("log_time_scale", s.options.log_time_scale);
  }
  return s;
}

json to_json(const StepperConfig& s) {
  if (s.gd) return {{"type", "gd"}};
  const auto& o = s.options;
  if (!is_adaptive(o.stepper)) return {{"type", to_string(o.stepper)}, {"step", o.step}};
  // automatic is flow time for every stepper but auto (written as such).
  const TimeVariable time =
      o.time == TimeVariable::automatic && o.stepper != StepperKind::automatic ? TimeVariable::flow : o.time;
  json j = {{"type", to_string(o.stepper)}, {"rtol", o.rtol}, {"atol", o.atol}, {"first_step", o.step},
            {"max_step", o.max_step}, {"time", to_string(time)}};
  if (time != TimeVariable::flow && o.log_time_scale > 0) j["log_time_scale"] = o.log_time_scale;
  if (uses_stiff_options(o.stepper))
    j["stiff"] = to_json(o.stiff);
  return j;
}

// ---------------------------------------------------------------- times

int parse_points(const Fields& f) {
  return static_cast<int>(int_in(f, "points", f.integer("points"), 2, max_points,
                                 "[2, " + std::to_string(max_points) + "]"));
}

/// Checks a list of times or iterations: nonnegative, strictly increasing.
void check_increasing(const Fields& f, const std::string& key, const std::vector<double>& v) {
  if (v.empty()) f.fail(key, "expected at least one value, got []");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string where = f.path(key) + "[" + std::to_string(i) + "]";
    if (!(v[i] >= 0) || !std::isfinite(v[i]))
      throw InputError(where, "expected a nonnegative value (the run starts at 0), got " + format_number(v[i]));
    if (i > 0 && !(v[i] > v[i - 1]))
      throw InputError(where, "values must be strictly increasing, got " + key + "[" + std::to_string(i) +
                                  "] = " + format_number(v[i]) + " after " + key + "[" + std::to_string(i - 1) +
                                  "] = " + format_number(v[i - 1]));
  }
  if (v.back() == 0) f.fail(key, "expected at least one value after 0, got [0]");
}

TimesConfig parse_times(const Fields& f, const LossConfig& loss) {
  allow_for_type(f, {{"t_end", "points"}, {"t_min"}, {"spacing", "first", "last"}, {"t", "iterations"}});
  TimesConfig tc;
  const std::string type = f.choice("type", {"linear", "log", "gd_iterations", "list"}, "time grid");
  if (type == "linear") {
    f.allow_only({"type", "t_end", "points"});
    tc.type = TimeGridKind::linear;
    tc.t_end = f.number("t_end");
    f.require_positive("t_end", tc.t_end);
    tc.points = parse_points(f);
    tc.times = linear_times(0.0, tc.t_end, tc.points);
  } else if (type == "log") {
    f.allow_only({"type", "t_min", "t_end", "points"});
    tc.type = TimeGridKind::log;
    tc.t_min = f.number("t_min");
    f.require_positive("t_min", tc.t_min);
    tc.t_end = f.number("t_end");
    if (!(tc.t_end > tc.t_min) || !std::isfinite(tc.t_end))
      f.fail("t_end", "expected t_end > t_min = " + format_number(tc.t_min) + ", got " + format_number(tc.t_end));
    tc.points = parse_points(f);
    tc.times = log_times(tc.t_min, tc.t_end, tc.points, true);
  } else if (type == "gd_iterations") {
    f.allow_only({"type", "spacing", "first", "last", "points"});
    tc.type = TimeGridKind::gd_iterations;
    require_learning_rate(loss, "a grid in GD iterations maps iteration k to flow time k h");
    tc.log_spacing = f.choice("spacing", {"log", "linear"}, "spacing", "log") == "log";
    tc.first = f.number("first", 1.0);
    if (tc.log_spacing) f.require_positive("first", tc.first);
    else f.require_nonnegative("first", tc.first);
    tc.last = f.number("last");
    if (!(tc.last > tc.first) || !std::isfinite(tc.last) || tc.last > 1e15)
      f.fail("last", "expected first = " + format_number(tc.first) + " < last <= 1e15, got " + format_number(tc.last));
    tc.points = parse_points(f);
    // Whole iterations, so that the rows of GD and of the flow line up.
    std::vector<double> k = {0.0};
    for (int i = 0; i < tc.points; ++i) {
      const double x = static_cast<double>(i) / (tc.points - 1);
      const double v = tc.log_spacing ? std::exp(std::log(tc.first) + x * (std::log(tc.last) - std::log(tc.first)))
                                      : tc.first + x * (tc.last - tc.first);
      const double r = std::round(v);
      if (r > k.back()) k.push_back(r);
    }
    const double h = loss.gd_step();
    for (double it : k) tc.times.push_back(it * h);
    tc.time_iterations = k;
  } else {
    tc.type = TimeGridKind::list;
    f.allow_only({"type", "t", "iterations"});
    if (f.has("t") == f.has("iterations"))
      f.fail("t", "give exactly one of 't' (flow times) and 'iterations' (GD iterations)");
    const std::string key = f.has("t") ? "t" : "iterations";
    const std::vector<double> v = f.numbers(key);
    check_increasing(f, key, v);
    double scale = 1.0;
    if (key == "t") {
      tc.t = v;
    } else {
      require_learning_rate(loss, "times.iterations are GD iterations, flow time k h");
      tc.iterations = v;
      scale = loss.gd_step();
    }
    if (v.front() > 0) tc.times.push_back(0.0);
    for (double x : v) tc.times.push_back(x * scale);
    if (key == "iterations") {
      if (v.front() > 0) tc.time_iterations.push_back(0.0);
      tc.time_iterations.insert(tc.time_iterations.end(), v.begin(), v.end());
    }
  }
  return tc;
}

json to_json(const TimesConfig& tc) {
  switch (tc.type) {
    case TimeGridKind::linear: return {{"type", "linear"}, {"t_end", tc.t_end}, {"points", tc.points}};
    case TimeGridKind::log:
      return {{"type", "log"}, {"t_min", tc.t_min}, {"t_end", tc.t_end}, {"points", tc.points}};
    case TimeGridKind::gd_iterations:
      return {{"type", "gd_iterations"}, {"spacing", tc.log_spacing ? "log" : "linear"},
              {"first", tc.first}, {"last", tc.last}, {"points", tc.points}};
    case TimeGridKind::list:
      if (!tc.iterations.empty()) return {{"type", "list"}, {"iterations", tc.iterations}};
      return {{"type", "list"}, {"t", tc.t}};
  }
  return {};
}

// ---------------------------------------------------------------- observe, stop

/// A theory observer's entry: absent or false = off, true = its defaults, an
/// object = its options (then on).
bool observer_on(const Fields& f, const std::string& key) {
  if (!f.has(key)) return false;
  const json& v = f.raw(key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_object()) return true;
  f.fail(key, "expected true, false or an object of options, got " + describe_json(v));
}

/// The options object of an observer that is on (an empty one for `true`).
Fields observer_fields(const Fields& f, const std::string& key) {
  static const json empty = json::object();
  return f.raw(key).is_object() ? f.object(key) : Fields(empty, f.path(key));
}

EigenOptions parse_eigen(const Fields& f, EigenOptions o) {
  if (f.has("method")) {
    const std::string m = f.choice("method", {"auto", "dense", "lanczos"}, "eigensolver");
    o.method = m == "dense" ? EigenMethod::dense : m == "lanczos" ? EigenMethod::lanczos : EigenMethod::automatic;
  }
  o.dense_limit = int_in(f, "dense_limit", f.integer("dense_limit", o.dense_limit), 1, 1'000'000, "[1, 1e6]");
  o.tol = f.number("tol", o.tol);
  if (!(o.tol > 0 && o.tol < 1)) f.fail("tol", "expected a relative tolerance in (0, 1), got " + format_number(o.tol));
  return o;
}

json to_json(const EigenOptions& o) {
  const char* m = o.method == EigenMethod::dense ? "dense" : o.method == EigenMethod::lanczos ? "lanczos" : "auto";
  return {{"method", m}, {"dense_limit", o.dense_limit}, {"tol", o.tol}};
}

/// What the planted matrix's rank is (the default number of E_s and Z*_s).
Index planted_rank(const PlantedConfig& p) {
  if (p.type == PlantedKind::trace_one) return p.rank;
  if (p.type == PlantedKind::orthogonal) return static_cast<Index>(p.eigenvalues.size());
  Eigen::SelfAdjointEigenSolver<Matrix> eig(p.matrix, Eigen::EigenvaluesOnly);
  const Vector l = eig.eigenvalues().reverse().cwiseMax(0.0);
  return std::max<Index>(1, numerical_rank(l, 1e-10));
}

ObserveConfig parse_observe(const Fields& f, Index d, Index p, FlowKind flow, Index truth_rank,
                            std::uint64_t run_seed) {
  f.allow_only({"rank_tol", "singular_values", "snapshots", "snapshot_every", "manifold_distance", "licq",
                "best_rank", "relative_error", "gram_spectrum", "energy_identity", "singular_value_law"});
  ObserveConfig o;
  o.rank_tol = f.number("rank_tol", o.rank_tol);
  if (!(o.rank_tol > 0 && o.rank_tol < 1))
    f.fail("rank_tol", "expected a relative tolerance in (0, 1), got " + format_number(o.rank_tol));
  // The X flow's state has d eigenvalues, whatever the width of U0.
  const Index k = flow == FlowKind::gram ? d : std::min(d, p);
  const std::string k_range = flow == FlowKind::gram ? "[0, d = " + std::to_string(k) + "] (flow gram)"
                                                     : "[0, min(d, width) = " + std::to_string(k) + "]";
  o.singular_values = static_cast<int>(int_in(f, "singular_values", f.integer("singular_values", 0), 0, k, k_range));
  const std::string s = f.choice("snapshots", {"none", "factor", "gram"}, "snapshot kind", "none");
  if (s == "factor" && flow == FlowKind::gram)
    f.fail("snapshots", "flow 'gram' integrates X = U U^T and has no factor to save; use \"gram\" (X_<k>.npy) "
                        "or \"none\"");
  o.snapshots = s == "none" ? SnapshotChoice::none : s == "factor" ? SnapshotChoice::factor : SnapshotChoice::gram;
  o.snapshot_every = static_cast<int>(int_in(f, "snapshot_every", f.integer("snapshot_every", 1), 1,
                                             1'000'000'000, "[1, 1e9]"));

  if (observer_on(f, "manifold_distance")) {
    const Fields g = observer_fields(f, "manifold_distance");
    g.allow_only({"upper", "xi", "max_iterations", "residual_tol", "dense_limit", "refine_steps"});
    auto& m = o.manifold_distance;
    m.enabled = true;
    m.upper = g.boolean("upper", true);
    if (g.has("xi")) {
      m.xi = g.number("xi");
      g.require_positive("xi", *m.xi);
    }
    m.projection.max_iterations = static_cast<int>(
        int_in(g, "max_iterations", g.integer("max_iterations", m.projection.max_iterations), 1, 100000, "[1, 1e5]"));
    m.projection.residual_tol = g.number("residual_tol", m.projection.residual_tol);
    if (!(m.projection.residual_tol > 0 && m.projection.residual_tol < 1))
      g.fail("residual_tol", "expected a relative tolerance in (0, 1), got " + format_number(m.projection.residual_tol));
    m.projection.dense_limit =
        int_in(g, "dense_limit", g.integer("dense_limit", m.projection.dense_limit), 0, 1'000'000, "[0, 1e6]");
    m.projection.refine_steps = static_cast<int>(
        int_in(g, "refine_steps", g.integer("refine_steps", m.projection.refine_steps), 0, 10000, "[0, 1e4]"));
  }
  if (observer_on(f, "licq")) {
    const Fields g = observer_fields(f, "licq");
    g.allow_only({"method", "dense_limit", "tol"});
    o.licq.enabled = true;
    o.licq.eigen = parse_eigen(g, o.licq.eigen);
  }
  if (observer_on(f, "best_rank")) {
    const Fields g = observer_fields(f, "best_rank");
    g.allow_only({"s_max", "restarts", "seed", "max_iterations", "newton_steps"});
    auto& b = o.best_rank;
    b.s_max = static_cast<int>(int_in(g, "s_max", g.integer("s_max", truth_rank), 1, d,
                                      "[1, d = " + std::to_string(d) + "]"));
    b.options.restarts = static_cast<int>(int_in(g, "restarts", g.integer("restarts", b.options.restarts), 0, 1000,
                                                 "[0, 1000]"));
    b.options.seed = g.has("seed") ? g.seed("seed") : Rng::derive_seed(run_seed, seed_stream::best_rank);
    b.options.max_iterations = static_cast<int>(
        int_in(g, "max_iterations", g.integer("max_iterations", b.options.max_iterations), 1, 1'000'000, "[1, 1e6]"));
    b.options.newton_steps = static_cast<int>(
        int_in(g, "newton_steps", g.integer("newton_steps", b.options.newton_steps), 0, 10000, "[0, 1e4]"));
  }
  if (observer_on(f, "relative_error")) {
    const Fields g = observer_fields(f, "relative_error");
    g.allow_only({"k"});
    o.relative_error = static_cast<int>(int_in(g, "k", g.integer("k", truth_rank), 1, truth_rank,
                                               "[1, rank(X♮) = " + std::to_string(truth_rank) +
                                                   "] (E_s needs a nonzero top-s part of the truth)"));
  }
  if (observer_on(f, "gram_spectrum")) {
    const Fields g = observer_fields(f, "gram_spectrum");
    g.allow_only({"count"});
    o.gram_spectrum = static_cast<int>(int_in(g, "count", g.integer("count", d), 1, d,
                                              "[1, d = " + std::to_string(d) + "]"));
  }
  if (observer_on(f, "energy_identity")) {
    observer_fields(f, "energy_identity").allow_only({});
    o.energy_identity = true;
  }
  if (observer_on(f, "singular_value_law")) {
    const Fields g = observer_fields(f, "singular_value_law");
    g.allow_only({"k", "floor"});
    const Index top = flow == FlowKind::gram ? d : std::min(d, p);
    o.singular_value_law.k = static_cast<int>(int_in(g, "k", g.integer("k", top), 1, top,
                                                     "[1, " + std::string(flow == FlowKind::gram ? "d" : "min(d, width)") +
                                                         " = " + std::to_string(top) + "]"));
    o.singular_value_law.floor = g.number("floor", o.singular_value_law.floor);
    if (!(o.singular_value_law.floor > 0 && o.singular_value_law.floor < 1))
      g.fail("floor", "expected a relative floor in (0, 1), got " + format_number(o.singular_value_law.floor));
  }
  return o;
}

json to_json(const ObserveConfig& o) {
  json j = {{"rank_tol", o.rank_tol},
            {"singular_values", o.singular_values},
            {"snapshots", to_string(o.snapshots)},
            {"snapshot_every", o.snapshot_every}};
  const auto& m = o.manifold_distance;
  if (m.enabled) {
    j["manifold_distance"] = {{"upper", m.upper},
                              {"max_iterations", m.projection.max_iterations},
                              {"residual_tol", m.projection.residual_tol},
                              {"dense_limit", m.projection.dense_limit},
                              {"refine_steps", m.projection.refine_steps}};
    if (m.xi) j["manifold_distance"]["xi"] = *m.xi;
  } else {
    j["manifold_distance"] = false;
  }
  j["licq"] = o.licq.enabled ? to_json(o.licq.eigen) : json(false);
  const auto& b = o.best_rank;
  j["best_rank"] = b.s_max > 0 ? json{{"s_max", b.s_max},
                                      {"restarts", b.options.restarts},
                                      {"seed", b.options.seed},
                                      {"max_iterations", b.options.max_iterations},
                                      {"newton_steps", b.options.newton_steps}}
                               : json(false);
  j["relative_error"] = o.relative_error > 0 ? json{{"k", o.relative_error}} : json(false);
  j["gram_spectrum"] = o.gram_spectrum > 0 ? json{{"count", o.gram_spectrum}} : json(false);
  j["energy_identity"] = o.energy_identity;
  j["singular_value_law"] = o.singular_value_law.k > 0 ? json{{"k", o.singular_value_law.k},
                                                              {"floor", o.singular_value_law.floor}}
                                                       : json(false);
  return j;
}

StopConfig parse_stop(const Fields& f) {
  f.allow_only({"training_error", "stagnation", "max_steps", "max_rhs", "max_seconds", "max_state_norm", "crawl"});
  StopConfig s;
  if (f.has("training_error")) {
    const Fields t = f.object("training_error");
    t.allow_only({"below", "relative", "every"});
    s.training_error_below = t.number("below");
    t.require_positive("below", *s.training_error_below);
    s.training_error_relative = t.boolean("relative", false);
    s.training_error_every = static_cast<std::uint64_t>(
        int_in(t, "every", t.integer("every", 1), 1, 1'000'000'000, "[1, 1e9]"));
  }
  if (f.has("stagnation")) {
    const Fields t = f.object("stagnation");
    t.allow_only({"window", "tolerance"});
    s.stagnation_window = t.number("window");
    t.require_positive("window", *s.stagnation_window);
    s.stagnation_tolerance = t.number("tolerance");
    t.require_nonnegative("tolerance", s.stagnation_tolerance);
  }
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  s.max_steps = static_cast<std::uint64_t>(int_in(f, "max_steps", f.integer("max_steps", 0), 0, big,
                                                  "[0, 2^63) (0 = unlimited)"));
  s.max_rhs = static_cast<std::uint64_t>(int_in(f, "max_rhs", f.integer("max_rhs", 0), 0, big,
                                                "[0, 2^63) (0 = unlimited)"));
  s.max_seconds = f.number("max_seconds", 0.0);
  f.require_nonnegative("max_seconds", s.max_seconds);
  if (f.has("max_state_norm")) {
    s.max_state_norm = f.number("max_state_norm");
    f.require_positive("max_state_norm", *s.max_state_norm);
  }
  if (f.has("crawl")) {
    const Fields t = f.object("crawl");
    t.allow_only({"min_mean_step", "window", "min_steps_left"});
    s.crawl_min_mean_step = t.number("min_mean_step");
    t.require_positive("min_mean_step", *s.crawl_min_mean_step);
    s.crawl_window = static_cast<std::uint64_t>(int_in(t, "window", t.integer("window", 1000), 1, 1'000'000'000,
                                                       "[1, 1e9]"));
    s.crawl_min_steps_left = t.number("min_steps_left", 1e6);
    t.require_nonnegative("min_steps_left", s.crawl_min_steps_left);
  }
  return s;
}

json to_json(const StopConfig& s) {
  json j = json::object();
  if (s.training_error_below)
    j["training_error"] = {{"below", *s.training_error_below},
                           {"relative", s.training_error_relative},
                           {"every", s.training_error_every}};
  if (s.stagnation_window)
    j["stagnation"] = {{"window", *s.stagnation_window}, {"tolerance", s.stagnation_tolerance}};
  j["max_steps"] = s.max_steps;
  j["max_rhs"] = s.max_rhs;
  j["max_seconds"] = s.max_seconds;
  if (s.max_state_norm) j["max_state_norm"] = *s.max_state_norm;
  if (s.crawl_min_mean_step)
    j["crawl"] = {{"min_mean_step", *s.crawl_min_mean_step},
                  {"window", s.crawl_window},
                  {"min_steps_left", s.crawl_min_steps_left}};
  return j;
}

}  // namespace

double LossConfig::gd_step() const {
  return learning_rate ? flowsense::gd_step(*learning_rate, gd_objective_weight, c) : 0.0;
}

std::string to_string(PlantedKind kind) {
  switch (kind) {
    case PlantedKind::trace_one: return "trace_one";
    case PlantedKind::orthogonal: return "orthogonal";
    case PlantedKind::file: return "file";
  }
  return "?";
}
std::string to_string(InitKind kind) { return kind == InitKind::random ? "random" : "file"; }
std::string to_string(TimeGridKind kind) {
  switch (kind) {
    case TimeGridKind::linear: return "linear";
    case TimeGridKind::log: return "log";
    case TimeGridKind::gd_iterations: return "gd_iterations";
    case TimeGridKind::list: return "list";
  }
  return "?";
}
std::string to_string(SnapshotChoice kind) {
  switch (kind) {
    case SnapshotChoice::none: return "none";
    case SnapshotChoice::factor: return "factor";
    case SnapshotChoice::gram: return "gram";
  }
  return "?";
}
std::string to_string(FlowKind kind) { return kind == FlowKind::gram ? "gram" : "factor"; }
std::string to_string(ReducedChoice choice) { return choice == ReducedChoice::off ? "off" : "auto"; }

RunConfig parse_config(const json& config, const std::string& base_dir) {
  const Fields top(config, "");
  top.allow_only({"description", "seed", "dim", "flow", "operator", "planted", "noise", "loss", "init", "stepper",
                  "times", "observe", "stop"});
  RunConfig rc;
  if (top.has("description")) rc.description = top.string("description");
  rc.seed = top.has("seed") ? top.seed("seed") : 0;
  if (top.has("flow")) rc.flow = parse_flow(top);

  // d comes from "dim", or from a planted matrix file (and then must agree).
  top.require("planted", "an object {\"type\": \"trace_one\" | \"orthogonal\" | \"file\", ...}");
  const Fields planted = top.object("planted");
  const bool planted_file = planted.has("type") && planted.raw("type") == "file";
  std::optional<Index> dim;
  if (top.has("dim") || !planted_file) {
    top.require("dim", "a positive integer d, the side of the d x d matrices");
    dim = int_in(top, "dim", top.integer("dim"), 1, max_dim, "[1, " + std::to_string(max_dim) + "]");
  }
  rc.planted = parse_planted(planted, dim, rc.seed, base_dir);
  rc.dim = *dim;

  const OperatorParseContext op_ctx{rc.dim, Rng::derive_seed(rc.seed, seed_stream::sensing_operator), base_dir};
  rc.op = parse_operator(top.object("operator"), op_ctx);
  rc.noise = top.has("noise") ? parse_noise(top.object("noise"), rc.seed)
                              : NoiseConfig{0.0, Rng::derive_seed(rc.seed, seed_stream::noise)};
  rc.loss = parse_loss(top.object("loss"));
  rc.init = parse_init(top.object("init"), rc.dim, rc.seed, base_dir);
  if (top.has("stepper")) {
    rc.stepper = parse_stepper(top.object("stepper"), rc.loss);
  } else {
    rc.stepper.options.stepper = StepperKind::dopri5;
    if (rc.loss.learning_rate) rc.stepper.options.step = rc.loss.gd_step();
  }
  rc.times = parse_times(top.object("times"), rc.loss);
  if (rc.flow.type == FlowKind::gram && rc.stepper.gd)
    throw InputError("stepper.type", "the 'gd' stepper is GD on the factor U (paper 000 (3), 003 (3)); "
                                     "flow 'gram' integrates X: use \"euler\" with a step, or an adaptive stepper");
  const json no_observe = json::object();
  rc.observe = parse_observe(top.has("observe") ? top.object("observe") : Fields(no_observe, "observe"), rc.dim,
                             rc.init.width, rc.flow.type, planted_rank(rc.planted), rc.seed);
  rc.stop = top.has("stop") ? parse_stop(top.object("stop")) : StopConfig{};
  return rc;
}

json to_json(const RunConfig& rc) {
  json j;
  if (!rc.description.empty()) j["description"] = rc.description;
  j["seed"] = rc.seed;
  j["dim"] = rc.dim;
  j["flow"] = to_json(rc.flow);
  j["operator"] = to_json(rc.op);
  j["planted"] = to_json(rc.planted);
  j["noise"] = to_json(rc.noise);
  j["loss"] = to_json(rc.loss);
  j["init"] = to_json(rc.init);
  j["stepper"] = to_json(rc.stepper);
  j["times"] = to_json(rc.times);
  j["observe"] = to_json(rc.observe);
  j["stop"] = to_json(rc.stop);
  return j;
}

json read_json_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path, "is a directory, not a JSON config file");
  std::ifstream in(path);
  if (!in) throw InputError(path, "cannot open the config file: " + std::string(std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw InputError(path, std::string("not valid JSON: ") + e.what());
  }
}

RunConfig load_config(const std::string& path) {
  const json j = read_json_file(path);
  return parse_config(j, fs::absolute(fs::path(path)).parent_path().string());
}

}  // namespace flowsense
