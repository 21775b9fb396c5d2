// The operator table of run configs: one row per operator type. Adding a
// type (rank_one, entry_sampling, a user-supplied .npy, ...) is one new row.
#include <cmath>

#include "flowsense/core/error.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/experiment/operator_config.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"

namespace flowsense {

namespace {

std::string to_string(GaussianScale s) { return s == GaussianScale::unit ? "unit" : "inv_sqrt_m"; }

/// Dense operators hold m x d(d+1)/2 doubles; refuse sizes that cannot fit
/// before trying to allocate them.
void check_dense_size(const Fields& f, const std::string& key, Index m, Index d) {
  const double bytes = 8.0 * static_cast<double>(m) * static_cast<double>(packed_size(d));
  constexpr double limit = 16.0 * (1ull << 30);
  if (bytes > limit)
    f.fail(key, "a dense operator with m = " + std::to_string(m) + " and d = " + std::to_string(d) + " needs " +
                    format_number(bytes / (1ull << 30)) + " GiB (m d(d+1)/2 doubles); the limit is 16 GiB");
}

std::vector<OperatorType> make_table() {
  std::vector<OperatorType> t;

  // Paper 000 (scale "unit") and paper 003 (scale "inv_sqrt_m").
  t.push_back(OperatorType{
      "gaussian",
      {"measurements", "scale", "seed"},
      [](const Fields& f, const OperatorParseContext& ctx, OperatorConfig& out) {
        const std::int64_t m = f.integer("measurements");
        if (m < 1) f.fail("measurements", "expected a positive number of measurements m, got " + std::to_string(m));
        check_dense_size(f, "measurements", m, ctx.dim);
        out.measurements = m;
        const std::string s = f.choice("scale", {"unit", "inv_sqrt_m"}, "scale", "unit");
        out.scale = s == "unit" ? GaussianScale::unit : GaussianScale::inv_sqrt_m;
        out.seed = f.has("seed") ? f.seed("seed") : ctx.derived_seed;
      },
      [](const OperatorConfig& c) {
        return nlohmann::json{{"type", "gaussian"},
                              {"measurements", c.measurements},
                              {"scale", to_string(c.scale)},
                              {"seed", c.seed}};
      },
      [](const OperatorConfig& c, Index d) -> std::shared_ptr<const SensingOperator> {
        return std::make_shared<GaussianOperator>(d, c.measurements, c.scale, c.seed);
      }});

  // A = the identity on symmetric matrices (m = d(d+1)/2); no randomness.
  t.push_back(OperatorType{
      "full",
      {},
      [](const Fields&, const OperatorParseContext& ctx, OperatorConfig& out) {
        out.measurements = packed_size(ctx.dim);
      },
      [](const OperatorConfig&) { return nlohmann::json{{"type", "full"}}; },
      [](const OperatorConfig&, Index d) -> std::shared_ptr<const SensingOperator> {
        return std::make_shared<FullObservation>(d);
      }});

  return t;
}

const OperatorType& find_type(const std::string& name) {
  for (const auto& t : operator_types())
    if (t.name == name) return t;
  throw std::invalid_argument("operator type '" + name + "' is not in the table");
}

}  // namespace

const std::vector<OperatorType>& operator_types() {
  static const std::vector<OperatorType> table = make_table();
  return table;
}

OperatorConfig parse_operator(const Fields& f, const OperatorParseContext& context) {
  std::vector<std::string> names;
  for (const auto& t : operator_types()) names.push_back(t.name);
  if (!f.has("type")) {
    // A misspelt "type" is more likely than a missing one: say so.
    std::vector<std::string> any = {"type"};
    for (const auto& t : operator_types()) any.insert(any.end(), t.fields.begin(), t.fields.end());
    f.allow_only(any);
  }
  OperatorConfig out;
  out.type = f.choice("type", names, "operator type");
  const OperatorType& type = find_type(out.type);
  std::vector<std::string> allowed = {"type"};
  allowed.insert(allowed.end(), type.fields.begin(), type.fields.end());
  f.allow_only(allowed);
  type.parse(f, context, out);
  return out;
}

nlohmann::json to_json(const OperatorConfig& config) { return find_type(config.type).to_json(config); }

std::shared_ptr<const SensingOperator> build_operator(const OperatorConfig& config, Index d) {
  return find_type(config.type).build(config, d);
}

}  // namespace flowsense
