#pragma once
// The "operator" section of a run config and the one table that turns it into
// a SensingOperator. To add an operator type, add its fields to
// OperatorConfig and one row to the table in src/config_operators.cpp
// (name, allowed fields, parse, to_json, build): nothing else changes.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/experiment/fields.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

/// How an entry_sampling mask is given (exactly one per config).
enum class MaskSource { probability, count, list, file };

struct OperatorConfig {
  std::string type = "gaussian";  ///< a name from operator_types()
  // gaussian, rank_one: m as given; full, entry_sampling, matrices: m as resolved
  Index measurements = 0;
  GaussianScale scale = GaussianScale::unit;  ///< gaussian, rank_one, matrices
  std::uint64_t seed = 0;  ///< gaussian, rank_one, random masks: explicit or derived (stream 1)
  // entry_sampling
  MaskSource mask_source = MaskSource::probability;
  double probability = 0.0;  ///< MaskSource::probability: q in (0, 1]
  std::vector<Entry> mask;   ///< MaskSource::list: as given; file: as read
  std::string path;          ///< MaskSource::file and matrices: the absolute path of the .npy
  EntryScale entry_scale = EntryScale::unbiased;
  // matrices
  double symmetry_tol = 1e-12;  ///< relative, per matrix (matrix_operator.hpp)
  /// Operators built while parsing, because building them is how their input
  /// is checked (a mask, a .npy of matrices): build() hands this one out.
  std::shared_ptr<const SensingOperator> built;
};

/// What a branch of the table sees while parsing.
struct OperatorParseContext {
  Index dim;                  ///< d of the run
  std::uint64_t derived_seed; ///< Rng::derive_seed(run seed, seed_stream::sensing_operator)
  std::string base_dir;       ///< for relative file paths
};

struct OperatorType {
  std::string name;
  std::vector<std::string> fields;  ///< allowed fields besides "type"
  /// Reads the section (its unknown fields already rejected) into `out`.
  std::function<void(const Fields& section, const OperatorParseContext& context, OperatorConfig& out)> parse;
  /// The resolved section, every field explicit; parse(to_json(c)) == c.
  std::function<nlohmann::json(const OperatorConfig& config)> to_json;
  /// Builds the operator for dimension d.
  std::function<std::shared_ptr<const SensingOperator>(const OperatorConfig& config, Index d)> build;
};

/// Every operator type a config may name, in documentation order.
const std::vector<OperatorType>& operator_types();

/// Parses the "operator" section (path "operator"). Throws InputError.
OperatorConfig parse_operator(const Fields& section, const OperatorParseContext& context);
nlohmann::json to_json(const OperatorConfig& config);
std::shared_ptr<const SensingOperator> build_operator(const OperatorConfig& config, Index d);

/// Bytes the operator itself holds (its a_i, matrix rows or mask), for the
/// manifest: 8 m d (rank_one), 8 m d(d+1)/2 (gaussian, matrices),
/// 16 m (entry_sampling), 0 (full); other types: 0.
double operator_storage_bytes(const SensingOperator& op);

}  // namespace flowsense
