#pragma once
// A run described as data: the JSON config that `flowsense run` reads
// (docs/config.md documents every field). parse_config() checks everything a
// run needs before it starts: unknown fields are errors, every error is an
// InputError whose where() is the field path ("stepper.rtol") and whose
// message states the value and what is allowed, and referenced .npy files are
// loaded and checked (shape, symmetry, PSD, finiteness) here.
//
// to_json() gives the resolved config: every default filled in, every derived
// seed explicit, file paths absolute. parse_config(to_json(c)) == c, so the
// manifest of a run is a config that repeats it bit for bit.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/analysis/best_rank.hpp"
#include "flowsense/analysis/manifold_distance.hpp"
#include "flowsense/core/types.hpp"
#include "flowsense/experiment/operator_config.hpp"
#include "flowsense/integrate/stepper.hpp"
#include "flowsense/loss/operator_form.hpp"

namespace flowsense {

/// Streams of the top-level seed: every seed a config leaves out is
/// Rng::derive_seed(seed, stream) for its stream.
namespace seed_stream {
inline constexpr std::uint64_t sensing_operator = 1;  ///< operator.seed
inline constexpr std::uint64_t planted = 2;           ///< planted.seed
inline constexpr std::uint64_t init = 3;              ///< init.seed
inline constexpr std::uint64_t noise = 4;             ///< noise.seed
inline constexpr std::uint64_t best_rank = 5;         ///< observe.best_rank.seed
inline constexpr std::uint64_t check = 6;             ///< the seed of `flowsense check`
}  // namespace seed_stream

/// Which ODE is integrated: the factor flow U' = -grad G_c(U) on d x p
/// factors, or the Gram flow (paper 000 (30)) X' = -2c (A*(r) X + X A*(r)) on
/// symmetric d x d matrices from X(0) = U0 U0^T.
enum class FlowKind { factor, gram };

/// Whether a factor flow from a rank-deficient start is integrated as the
/// exact reduced flow L' = -grad G_c(L), U(t) = L(t) R^T (flow/reduced_flow.hpp).
enum class ReducedChoice { automatic, off };

struct FlowConfig {
  FlowKind type = FlowKind::factor;
  /// factor only: "auto" integrates the d x r0 state when r0 = rank(U0) < p
  /// (the same trajectory; the d^2 p products of each right-hand side shrink
  /// to d^2 r0, the operator's A and A* do not), "off" always the d x p one.
  ReducedChoice reduced = ReducedChoice::automatic;
  /// rank(U0) = #{sigma_i(U0) > reduced_rank_tol * sigma_1(U0)}, in [0, 1).
  double reduced_rank_tol = 1e-12;
  /// Also integrate the other flow (Gram for a factor run, factor for a Gram
  /// run) from the same start with the same stepper and times, and record
  /// "gram_gap" = ||X(t) - U(t)U(t)^T||_F (observe/theory_metrics.hpp).
  bool gram_gap = false;
};

enum class PlantedKind { trace_one, orthogonal, file };

struct PlantedConfig {
  PlantedKind type = PlantedKind::trace_one;
  Index rank = 1;                   ///< trace_one
  std::vector<double> eigenvalues;  ///< orthogonal
  std::uint64_t seed = 0;           ///< trace_one, orthogonal
  std::string path;                 ///< file: absolute path of the .npy
  double symmetry_tol = 1e-12;      ///< file: ||X - X^T||_F <= tol ||X||_F
  double psd_tol = 1e-10;           ///< file: lambda_min >= -tol max|lambda|
  Matrix matrix;                    ///< file: the loaded matrix, symmetrized
};

/// Noisy data b = A(X♮) + sigma eps, eps ~ N(0, I_m) from Rng(seed)
/// (problem/noise.hpp). sigma = 0: noiseless data.
struct NoiseConfig {
  double sigma = 0.0;
  std::uint64_t seed = 0;  ///< explicit, or derived from the run seed (stream 4)
};

struct LossConfig {
  std::string convention;  ///< "paper000", "paper003", or empty
  double c = 0.25;         ///< G_c(U) = (c/2) ||A(UU^T) - b||^2
  double gd_objective_weight = 1.0;  ///< w: the GD learning rate is on w ||r||^2
  std::optional<double> learning_rate;
  /// "operator_form", "threads" and "fused_memory_limit_mb": the hot path's operator form
  /// (loss/operator_form.hpp); results agree to ~1e-13 whichever runs.
  OperatorFormOptions operator_form;
  /// Flow time of one GD iteration, h = gd_step(lr, w, c); 0 without a learning rate.
  double gd_step() const;
};

enum class InitKind { random, file };

struct InitConfig {
  InitKind type = InitKind::random;
  Index rank = 1;     ///< random
  Index width = 0;    ///< p (random: defaults to d; file: the file's columns)
  double norm = 1.0;  ///< random: ||U0||_F
  std::uint64_t seed = 0;
  std::string path;   ///< file: absolute path
  Matrix matrix;      ///< file: the loaded d x p matrix
};

struct StepperConfig {
  bool gd = false;  ///< "gd": Euler with the GD step of the loss' learning rate
  IntegrateOptions options;
  std::string name() const { return gd ? "gd" : to_string(options.stepper); }
};

enum class TimeGridKind { linear, log, gd_iterations, list };

struct TimesConfig {
  TimeGridKind type = TimeGridKind::linear;
  double t_min = 0, t_end = 0;  ///< linear (t_end), log (t_min, t_end)
  int points = 0;               ///< linear, log, gd_iterations
  bool log_spacing = true;      ///< gd_iterations: "spacing": "log" or "linear"
  double first = 1, last = 0;   ///< gd_iterations
  std::vector<double> t;            ///< list: flow times as given
  std::vector<double> iterations;   ///< list: GD iterations as given
  std::vector<double> times;        ///< resolved flow times, strictly increasing from 0
  /// For grids in GD iterations: the whole iteration of each time (k, with
  /// times[j] = k h), so the "iteration" column is exact; empty otherwise.
  std::vector<double> time_iterations;
};

enum class SnapshotChoice { none, factor, gram };

/// The theory observers of observe/theory_metrics.hpp, each off unless the
/// config names it (docs/config.md lists their columns and cost).
struct ManifoldDistanceObserve {  ///< "manifold_distance": dist(U, M_b) bounds
  bool enabled = false;
  bool upper = true;           ///< run the Gauss-Newton projection (the costly part)
  std::optional<double> xi;    ///< the norm bound of M_b (paper 000 (model)); none: xi-free bounds
  ProjectionOptions projection;
  EigenOptions norm;           ///< for ||A||, computed once per run
};
struct LicqObserve {  ///< "licq": sigma_m(Dg(U)), Assumption 3.1(ii)
  bool enabled = false;
  EigenOptions eigen;
};
struct BestRankObserve {  ///< "best_rank": Procrustes and ||UU^T - Z*_s||_F for s = 1..s_max
  int s_max = 0;           ///< 0: off
  BestRankOptions options; ///< Z*_s are computed once per run
};
struct SingularValueLawObserve {  ///< "singular_value_law": (36) along the run
  int k = 0;               ///< 0: off
  double floor = 1e-12;
};

struct ObserveConfig {
  double rank_tol = 1e-8;
  int singular_values = 0;
  SnapshotChoice snapshots = SnapshotChoice::none;
  int snapshot_every = 1;
  ManifoldDistanceObserve manifold_distance;
  LicqObserve licq;
  BestRankObserve best_rank;
  int relative_error = 0;   ///< "relative_error": E_1..E_k of paper 003 (0: off)
  int gram_spectrum = 0;    ///< "gram_spectrum": x_eig_1..x_eig_n of X = UU^T (0: off)
  bool energy_identity = false;  ///< "energy_identity": dG/dt = -||grad G||^2
  SingularValueLawObserve singular_value_law;
};

struct StopConfig {
  std::optional<double> training_error_below;
  bool training_error_relative = false;
  std::uint64_t training_error_every = 1;
  std::optional<double> stagnation_window;
  double stagnation_tolerance = 0.0;
  std::uint64_t max_steps = 0, max_rhs = 0;
  double max_seconds = 0.0;
  std::optional<double> max_state_norm;
  // crawl (integrate/stop_rules.hpp, Crawl): set when crawl_min_mean_step is.
  std::optional<double> crawl_min_mean_step;
  std::uint64_t crawl_window = 1000;
  double crawl_min_steps_left = 1e6;
};

struct RunConfig {
  std::string description;
  std::uint64_t seed = 0;
  Index dim = 0;
  FlowConfig flow;
  OperatorConfig op;
  PlantedConfig planted;
  NoiseConfig noise;
  LossConfig loss;
  InitConfig init;
  StepperConfig stepper;
  TimesConfig times;
  ObserveConfig observe;
  StopConfig stop;
};

/// Parses and checks a config; relative .npy paths are resolved against
/// `base_dir`. Throws InputError(field path, value and what is allowed).
RunConfig parse_config(const nlohmann::json& config, const std::string& base_dir);

/// Reads a JSON file (InputError(path) if unreadable or not JSON) and parses
/// it with base_dir = the file's directory.
RunConfig load_config(const std::string& path);

/// Reads a JSON file without parsing it as a config (for --set edits).
nlohmann::json read_json_file(const std::string& path);

/// The resolved config (see the file comment).
nlohmann::json to_json(const RunConfig& config);

std::string to_string(PlantedKind kind);
std::string to_string(InitKind kind);
std::string to_string(TimeGridKind kind);
std::string to_string(SnapshotChoice kind);
std::string to_string(FlowKind kind);
std::string to_string(ReducedChoice choice);

}  // namespace flowsense
