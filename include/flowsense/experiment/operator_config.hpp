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
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

struct OperatorConfig {
  std::string type = "gaussian";  ///< a name from operator_types()
  // gaussian
  Index measurements = 0;  ///< m
  GaussianScale scale = GaussianScale::unit;
  std::uint64_t seed = 0;  ///< explicit, or derived from the run seed (stream "operator")
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

}  // namespace flowsense
