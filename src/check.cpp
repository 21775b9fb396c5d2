#include "flowsense/experiment/check.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/fields.hpp"
#include "flowsense/experiment/run.hpp"
#include "flowsense/trajectory/manifest.hpp"

namespace flowsense {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int count_in(const Fields& f, const std::string& key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
  const std::int64_t v = f.integer(key, fallback);
  if (v < lo || v > hi)
    f.fail(key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                    std::to_string(v));
  return static_cast<int>(v);
}

double fraction(const Fields& f, const std::string& key, double fallback) {
  const double v = f.number(key, fallback);
  if (!(v > 0 && v < 1)) f.fail(key, "expected a value in (0, 1), got " + format_number(v));
  return v;
}

std::string sigma_name(SigmaCombination s) {
  return s == SigmaCombination::min_corrected ? "min_corrected" : "max_as_stated";
}

void parse_probe(CheckConfig& c, const Fields& f, std::uint64_t run_seed) {
  std::vector<std::string> allowed = {"seed", "random_points", "local_starts", "local_evaluations", "tolerance",
                                      "constant_factor"};
  const bool procrustes = c.kind == CheckKind::lemma_f2 || c.kind == CheckKind::lemma_e1;
  if (procrustes) allowed.push_back("sigma");
  f.allow_only(allowed);
  SearchOptions& s = c.probe.search;
  s.seed = f.has("seed") ? f.seed("seed") : Rng::derive_seed(run_seed, seed_stream::check);
  s.random_points = count_in(f, "random_points", s.random_points, 1, 100'000'000);
  s.local_starts = count_in(f, "local_starts", s.local_starts, 0, 100'000);
  s.local_evaluations = count_in(f, "local_evaluations", s.local_evaluations, 0, 100'000'000);
  s.tolerance = f.number("tolerance", s.tolerance);
  f.require_nonnegative("tolerance", s.tolerance);
  c.probe.constant_factor = f.number("constant_factor", 1.0);
  f.require_positive("constant_factor", c.probe.constant_factor);
  if (procrustes)
    c.sigma = f.choice("sigma", {"max_as_stated", "min_corrected"}, "sigma combination", "max_as_stated") ==
                      "min_corrected"
                  ? SigmaCombination::min_corrected
                  : SigmaCombination::max_as_stated;
}

json probe_json(const CheckConfig& c) {
  const SearchOptions& s = c.probe.search;
  json j = {{"seed", s.seed},
            {"random_points", s.random_points},
            {"local_starts", s.local_starts},
            {"local_evaluations", s.local_evaluations},
            {"tolerance", s.tolerance},
            {"constant_factor", c.probe.constant_factor}};
  if (c.kind == CheckKind::lemma_f2 || c.kind == CheckKind::lemma_e1) j["sigma"] = sigma_name(c.sigma);
  return j;
}

/// The planted matrix's largest eigenvalue, for the default xi of Theorem 3.2.
double default_xi(const Matrix& planted) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(planted, Eigen::EigenvaluesOnly);
  return 1.1 * std::sqrt(std::max(eig.eigenvalues().maxCoeff(), 0.0));
}

RunSetup run_setup(const RunConfig& run, const Experiment& e) {
  RunSetup s;
  s.problem = e.problem;
  s.c = run.loss.c;
  s.U0 = e.initial;
  s.options = e.options;
  s.times = e.times;
  s.stop_rules = make_stop_rules(run, e.loss);
  s.description = {{"config", to_json(run)}};
  return s;
}

}  // namespace

const std::vector<std::string>& check_names() {
  static const std::vector<std::string> names = {"lemma_c1", "theorem_3_2", "theorem_4_1", "lemma_f2",
                                                 "lemma_e1", "pl_inequality", "lemma_5_1"};
  return names;
}

std::string to_string(CheckKind kind) { return check_names()[static_cast<std::size_t>(kind)]; }

std::optional<CheckKind> check_from_string(const std::string& name) {
  // Compare without separators and case: "Lemma-C.1", "lemma_c1" and "LemmaC1" are one name.
  auto squash = [](const std::string& s) {
    std::string out;
    for (char ch : s)
      if (ch != '_' && ch != '-' && ch != '.' && ch != ' ')
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  std::string n = squash(name);
  if (n == "pl" || n == "pl12") n = "plinequality";
  const auto& names = check_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (squash(names[i]) == n) return static_cast<CheckKind>(i);
  return std::nullopt;
}

bool is_probe(CheckKind kind) {
  return kind == CheckKind::lemma_f2 || kind == CheckKind::lemma_e1 || kind == CheckKind::pl_inequality ||
         kind == CheckKind::lemma_5_1;
}

CheckConfig parse_check_config(CheckKind kind, const json& config, const std::string& base_dir) {
  static const json empty = json::object();
  const json& cfg = config.is_null() ? empty : config;
  const Fields top(cfg, "");
  CheckConfig c;
  c.kind = kind;
  static const json no_check = json::object();
  const Fields f = top.has("check") ? top.object("check") : Fields(no_check, "check");

  if (is_probe(kind)) {
    // A probe draws its own matrices: a run config's fields would be ignored, so they are errors.
    top.allow_only({"description", "seed", "check"});
    if (top.has("description")) c.description = top.string("description");
    c.seed = top.has("seed") ? top.seed("seed") : 0;
    parse_probe(c, f, c.seed);
    if (auto e = c.probe.validate(); !e.empty()) throw InputError("check", e);
    return c;
  }

  json run_json = cfg;
  run_json.erase("check");
  c.run = parse_config(run_json, base_dir);
  c.seed = c.run->seed;
  c.description = c.run->description;
  const std::uint64_t derived = Rng::derive_seed(c.seed, seed_stream::check);
  switch (kind) {
    case CheckKind::lemma_c1:
      f.allow_only({"rank_tol"});
      c.lemma_c1.rank_tol = fraction(f, "rank_tol", c.lemma_c1.rank_tol);
      break;
    case CheckKind::theorem_3_2: {
      f.allow_only({"xi", "rank_tol", "effrank_tol", "converged_tol", "recovery_tol", "failure_tol",
                    "manifold_starts", "isometry_starts", "seed"});
      Theorem32Options& o = c.theorem_3_2;
      if (f.has("xi")) {
        c.xi = f.number("xi");
        f.require_positive("xi", c.xi);
        c.xi_default = false;
      }
      o.rank_tol = fraction(f, "rank_tol", o.rank_tol);
      o.effrank_tol = fraction(f, "effrank_tol", o.effrank_tol);
      o.converged_tol = fraction(f, "converged_tol", o.converged_tol);
      o.recovery_tol = f.number("recovery_tol", o.recovery_tol);
      f.require_positive("recovery_tol", o.recovery_tol);
      o.failure_tol = f.number("failure_tol", o.failure_tol);
      if (!(o.failure_tol > o.recovery_tol))
        f.fail("failure_tol", "expected failure_tol > recovery_tol = " + format_number(o.recovery_tol) + ", got " +
                                  format_number(o.failure_tol));
      o.manifold_starts = count_in(f, "manifold_starts", o.manifold_starts, 1, 100000);
      o.isometry.random_starts = count_in(f, "isometry_starts", o.isometry.random_starts, 0, 100000);
      o.seed = f.has("seed") ? f.seed("seed") : derived;
      o.isometry.seed = o.seed;
      break;
    }
    case CheckKind::theorem_4_1: {
      f.allow_only({"alphas", "observations", "s_max", "rank_tol", "best_rank_restarts", "isometry_starts"});
      if (f.has("alphas")) {
        c.alphas = f.numbers("alphas");
        if (c.alphas.empty()) f.fail("alphas", "expected at least one initialization scale, got []");
        for (std::size_t i = 0; i < c.alphas.size(); ++i)
          if (!(c.alphas[i] > 0) || !std::isfinite(c.alphas[i]))
            throw InputError(f.path("alphas") + "[" + std::to_string(i) + "]",
                             "expected a finite scale > 0, got " + format_number(c.alphas[i]));
      }
      c.observations = count_in(f, "observations", c.observations, 10, 10'000'000);
      Theorem41Options& o = c.theorem_4_1;
      o.s_max = count_in(f, "s_max", 0, 0, static_cast<std::int64_t>(c.run->dim));
      o.rank_tol = fraction(f, "rank_tol", o.rank_tol);
      o.best_rank.restarts = count_in(f, "best_rank_restarts", o.best_rank.restarts, 0, 1000);
      o.best_rank.seed = derived;
      o.isometry.random_starts = count_in(f, "isometry_starts", o.isometry.random_starts, 0, 100000);
      o.isometry.seed = derived;
      break;
    }
    default: break;
  }
  return c;
}

CheckConfig load_check_config(CheckKind kind, const std::string& path) {
  return parse_check_config(kind, read_json_file(path), fs::absolute(fs::path(path)).parent_path().string());
}

json to_json(const CheckConfig& c) {
  json j;
  json check = json::object();
  switch (c.kind) {
    case CheckKind::lemma_c1: check = {{"rank_tol", c.lemma_c1.rank_tol}}; break;
    case CheckKind::theorem_3_2: {
      const Theorem32Options& o = c.theorem_3_2;
      check = {{"rank_tol", o.rank_tol},           {"effrank_tol", o.effrank_tol},
               {"converged_tol", o.converged_tol}, {"recovery_tol", o.recovery_tol},
               {"failure_tol", o.failure_tol},     {"manifold_starts", o.manifold_starts},
               {"isometry_starts", o.isometry.random_starts}, {"seed", o.seed}};
      if (!c.xi_default) check["xi"] = c.xi;
      break;
    }
    case CheckKind::theorem_4_1:
      check = {{"alphas", c.alphas},
               {"observations", c.observations},
               {"s_max", c.theorem_4_1.s_max},
               {"rank_tol", c.theorem_4_1.rank_tol},
               {"best_rank_restarts", c.theorem_4_1.best_rank.restarts},
               {"isometry_starts", c.theorem_4_1.isometry.random_starts}};
      break;
    default: check = probe_json(c); break;
  }
  if (c.run) {
    j = to_json(*c.run);
  } else {
    if (!c.description.empty()) j["description"] = c.description;
    j["seed"] = c.seed;
  }
  j["check"] = check;
  return j;
}

std::string describe(const CheckConfig& c) {
  std::ostringstream s;
  s << "  check     " << to_string(c.kind);
  if (is_probe(c.kind)) {
    const SearchOptions& o = c.probe.search;
    s << ": adversarial search, seed " << o.seed << ", " << o.random_points << " random points and " << o.local_starts
      << " local searches of " << o.local_evaluations << " evaluations per family, relative tolerance "
      << format_number(o.tolerance);
    if (c.probe.constant_factor != 1.0)
      s << ", the claim made " << format_number(c.probe.constant_factor) << " times stronger (planted)";
    if (c.kind == CheckKind::lemma_f2 || c.kind == CheckKind::lemma_e1) s << ", sigma " << sigma_name(c.sigma);
    s << "\n";
    return s.str();
  }
  const RunConfig& r = *c.run;
  s << ": the factor flow from the config's U0 (d = " << r.dim << ", p = " << r.init.width << "), "
    << r.stepper.name();
  // Theorem 4.1 makes its own log-spaced grid; only the config's last time counts.
  if (c.kind != CheckKind::theorem_4_1) s << ", " << r.times.times.size() << " observation times";
  s << " to t = " << format_number(r.times.times.back()) << "\n";
  if (c.kind == CheckKind::theorem_3_2)
    s << "            xi " << (c.xi_default ? "= 1.1 sqrt(lambda_max(X♮)) (default)" : "= " + format_number(c.xi))
      << ", " << c.theorem_3_2.manifold_starts << " samples of M_b, seed " << c.theorem_3_2.seed << "\n";
  if (c.kind == CheckKind::theorem_4_1) {
    s << "            alphas";
    for (double a : c.alphas) s << " " << format_number(a);
    s << " times Ubar = U0/||U0||, " << c.observations << " log-spaced observations in [1e-4 t_end, t_end]\n";
  }
  return s.str();
}

Verdict run_check(const CheckConfig& c) {
  switch (c.kind) {
    case CheckKind::lemma_f2: return probe_lemma_f2(c.probe, c.sigma);
    case CheckKind::lemma_e1: return probe_lemma_e1(c.probe, c.sigma);
    case CheckKind::pl_inequality: return probe_pl_inequality(c.probe);
    case CheckKind::lemma_5_1: return probe_lemma_5_1(c.probe);
    default: break;
  }
  const RunConfig& run = *c.run;
  const Experiment e = build_experiment(run);
  const std::string flow_note =
      "The check integrates the full d x p factor flow U' = -grad G_c(U) from the config's U0 with its stepper, "
      "times and stop rules; the config's flow section (reduced or X flow) and theory observers are not used.";
  Verdict v;
  if (c.kind == CheckKind::lemma_c1) {
    v = check_lemma_c1(run_setup(run, e), c.lemma_c1);
    v.notes.push_back(flow_note + " (The reduced flow would keep the rank by construction.)");
  } else if (c.kind == CheckKind::theorem_3_2) {
    RunSetup s = run_setup(run, e);
    s.problem.xi = c.xi_default ? default_xi(e.problem.planted) : c.xi;
    v = check_theorem_3_2(s, c.theorem_3_2);
    v.notes.push_back(flow_note);
    if (c.xi_default)
      v.notes.push_back("xi = 1.1 sqrt(lambda_max(X♮)) = " + format_number(*s.problem.xi) +
                        " (the default: (model) 0 <= X♮ < xi^2 I with a 10% margin; set check.xi to choose another).");
  } else {
    Theorem41Setup s;
    s.problem = e.problem;
    s.direction = e.initial;
    s.alphas = c.alphas;
    s.options = e.options;
    s.t_end = e.times.back();
    s.observations = c.observations;
    s.learning_rate = run.loss.learning_rate.value_or(0.0);
    s.description = {{"config", to_json(run)}};
    v = check_theorem_4_1(s, c.theorem_4_1);
    v.notes.push_back("The check runs the factor flow of paper 003 (c = 1/2) from alpha U0/||U0|| for each alpha in "
                      "check.alphas, with the config's stepper, to the config's last time t_end = " +
                      format_number(s.t_end) + "; the config's loss constant, flow section and observers are not used.");
  }
  return v;
}

json write_check_outputs(const std::string& dir, const CheckConfig& c, const Verdict& v, const json& extra) {
  write_verdict(v, dir);
  json files = {"verdict.json", "verdict.md"};
  if (!v.figure.empty()) files.push_back("figure.svg");
  for (const auto& w : v.witnesses) files.push_back("witness/" + w.name + ".npy");
  json manifest = make_manifest({{"check", to_string(c.kind)},
                                 {"claim", v.claim.name},
                                 {"status", to_string(v.status)},
                                 {"summary", v.summary},
                                 {"config", to_json(c)},
                                 {"files", files}});
  if (c.kind == CheckKind::theorem_3_2 && v.setup.contains("xi")) manifest["xi"] = v.setup["xi"];
  for (auto it = extra.begin(); it != extra.end(); ++it) manifest[it.key()] = it.value();
  write_json((fs::path(dir) / "manifest.json").string(), manifest);
  return manifest;
}

}  // namespace flowsense
