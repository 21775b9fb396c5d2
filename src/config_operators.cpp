// The operator table of run configs: one row per operator type. Adding a
// type is one new row (docs/config.md, "Adding an operator type").
#include <cmath>
#include <filesystem>

#include "flowsense/core/error.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/experiment/operator_config.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/matrix_operator.hpp"
#include "flowsense/problem/packed_operator.hpp"
#include "flowsense/problem/rank_one_operator.hpp"

namespace flowsense {

namespace {

std::string to_string(GaussianScale s) { return s == GaussianScale::unit ? "unit" : "inv_sqrt_m"; }
std::string to_string(EntryScale s) { return s == EntryScale::unbiased ? "unbiased" : "unit"; }

constexpr double storage_limit_bytes = 16.0 * (1ull << 30);

/// Operators are held in memory; refuse sizes that cannot fit before trying
/// to allocate them. `what` says what the bytes are.
void check_storage(const Fields& f, const std::string& key, double bytes, const std::string& what) {
  if (bytes > storage_limit_bytes)
    f.fail(key, what + " needs " + format_number(std::round(bytes / (1ull << 30) * 10) / 10) +
                    " GiB; the limit is 16 GiB");
}

/// "measurements": m >= 1, required.
Index parse_measurements(const Fields& f) {
  const std::int64_t m = f.integer("measurements");
  if (m < 1) f.fail("measurements", "expected a positive number of measurements m, got " + std::to_string(m));
  return m;
}

GaussianScale parse_scale(const Fields& f) {
  const std::string s = f.choice("scale", {"unit", "inv_sqrt_m"}, "scale", "unit");
  return s == "unit" ? GaussianScale::unit : GaussianScale::inv_sqrt_m;
}

std::string absolute_path(const Fields& f, const std::string& key, const std::string& base_dir) {
  const std::string given = f.string(key);
  if (given.empty()) f.fail(key, "expected the path of a .npy file, got an empty string");
  std::filesystem::path p(given);
  if (p.is_relative()) p = std::filesystem::path(base_dir.empty() ? "." : base_dir) / p;
  return std::filesystem::absolute(p).lexically_normal().string();
}

/// The message of an operator's std::invalid_argument without its
/// "EntrySamplingOperator: " prefix, for an error that names the field.
std::string without_prefix(const std::string& message) {
  const auto colon = message.find(": ");
  return colon == std::string::npos ? message : message.substr(colon + 2);
}

/// "mask": [[i, j], ...], each pair two integers; the operator checks the rest.
std::vector<Entry> parse_mask_list(const Fields& f) {
  const nlohmann::json& v = f.raw("mask");
  if (!v.is_array() || v.empty())
    f.fail("mask", "expected a non-empty list of [i, j] pairs (0 <= i <= j < d), got " + describe_json(v));
  std::vector<Entry> mask;
  for (std::size_t k = 0; k < v.size(); ++k) {
    const nlohmann::json& e = v[k];
    const bool ok = e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_number_integer() &&
                    e[0].get<std::int64_t>() >= 0 && e[1].get<std::int64_t>() >= 0;
    if (!ok)
      throw InputError(f.path("mask") + "[" + std::to_string(k) + "]",
                       "expected a pair [i, j] of integers with 0 <= i <= j < d, got " + describe_json(e));
    mask.push_back({e[0].get<Index>(), e[1].get<Index>()});
  }
  return mask;
}

/// Builds the entry-sampling operator of a parsed section; a problem with
/// the mask becomes an error of the field that gave it.
std::shared_ptr<const SensingOperator> build_entry_sampling(const Fields& f, const OperatorConfig& c, Index d) {
  const char* key = c.mask_source == MaskSource::probability ? "probability"
                    : c.mask_source == MaskSource::count     ? "count"
                    : c.mask_source == MaskSource::list      ? "mask"
                                                             : "mask_file";
  try {
    switch (c.mask_source) {
      case MaskSource::probability:
        return std::make_shared<EntrySamplingOperator>(
            EntrySamplingOperator::random(d, c.probability, c.seed, c.entry_scale));
      case MaskSource::count:
        return std::make_shared<EntrySamplingOperator>(
            EntrySamplingOperator::random_count(d, c.measurements, c.seed, c.entry_scale));
      case MaskSource::list:
      case MaskSource::file: return std::make_shared<EntrySamplingOperator>(d, c.mask, c.entry_scale);
    }
  } catch (const std::invalid_argument& e) {
    f.fail(key, (c.mask_source == MaskSource::file ? c.path + ": " : std::string()) + without_prefix(e.what()));
  }
  return nullptr;
}

std::vector<OperatorType> make_table() {
  std::vector<OperatorType> t;

  // Paper 000 (scale "unit") and paper 003 (scale "inv_sqrt_m").
  t.push_back(OperatorType{
      "gaussian",
      {"measurements", "scale", "seed"},
      [](const Fields& f, const OperatorParseContext& ctx, OperatorConfig& out) {
        const Index m = parse_measurements(f);
        check_storage(f, "measurements",
                      8.0 * static_cast<double>(m) * static_cast<double>(packed_size(ctx.dim)),
                      "a dense operator with m = " + std::to_string(m) + " and d = " + std::to_string(ctx.dim) +
                          " (m d(d+1)/2 doubles)");
        out.measurements = m;
        out.scale = parse_scale(f);
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

  // Rank-one projections A_i = a_i a_i^T, a_i ~ N(0, I_d) (paper 000's [14]):
  // O(m d p) per right-hand side, 8 m d bytes.
  t.push_back(OperatorType{
      "rank_one",
      {"measurements", "scale", "seed"},
      [](const Fields& f, const OperatorParseContext& ctx, OperatorConfig& out) {
        const Index m = parse_measurements(f);
        check_storage(f, "measurements", 8.0 * static_cast<double>(m) * static_cast<double>(ctx.dim),
                      "rank-one projections with m = " + std::to_string(m) + " and d = " +
                          std::to_string(ctx.dim) + " (m d doubles)");
        out.measurements = m;
        out.scale = parse_scale(f);
        out.seed = f.has("seed") ? f.seed("seed") : ctx.derived_seed;
      },
      [](const OperatorConfig& c) {
        return nlohmann::json{{"type", "rank_one"},
                              {"measurements", c.measurements},
                              {"scale", to_string(c.scale)},
                              {"seed", c.seed}};
      },
      [](const OperatorConfig& c, Index d) -> std::shared_ptr<const SensingOperator> {
        return std::make_shared<RankOneOperator>(d, c.measurements, c.scale, c.seed);
      }});

  // Symmetric matrix completion (paper 000's [39]): a mask drawn with a
  // probability or a count, given as a list, or read from a .npy. Built while
  // parsing, so that every problem with the mask is reported before a run.
  t.push_back(OperatorType{
      "entry_sampling",
      {"probability", "count", "mask", "mask_file", "seed", "scale"},
      [](const Fields& f, const OperatorParseContext& ctx, OperatorConfig& out) {
        const std::vector<std::string> sources = {"probability", "count", "mask", "mask_file"};
        std::vector<std::string> given;
        for (const auto& k : sources)
          if (f.has(k)) given.push_back(k);
        if (given.size() != 1)
          f.fail(given.empty() ? "probability" : given[1],
                 "give exactly one of probability (a random mask, each entry with probability q), count (a "
                 "random mask of exactly that many entries), mask (a list of [i, j] pairs) and mask_file (a "
                 ".npy), got " +
                     (given.empty() ? std::string("none") : join(given)));
        const std::string s = f.choice("scale", {"unbiased", "unit"}, "scale", "unbiased");
        out.entry_scale = s == "unbiased" ? EntryScale::unbiased : EntryScale::unit;
        const bool random = given[0] == "probability" || given[0] == "count";
        if (!random && f.has("seed"))
          f.fail("seed", "a seed only applies to random masks (probability or count), not to '" + given[0] + "'");
        if (given[0] == "probability") {
          out.mask_source = MaskSource::probability;
          out.probability = f.number("probability");
          if (!(out.probability > 0 && out.probability <= 1))
            f.fail("probability", "expected a probability q in (0, 1], got " + format_number(out.probability));
        } else if (given[0] == "count") {
          out.mask_source = MaskSource::count;
          const std::int64_t k = f.integer("count");
          const Index D = packed_size(ctx.dim);
          if (k < 1 || k > D)
            f.fail("count", "expected an integer in [1, d(d+1)/2 = " + std::to_string(D) +
                                "] (the number of upper-triangular entries), got " + std::to_string(k));
          out.measurements = k;
        } else if (given[0] == "mask") {
          out.mask_source = MaskSource::list;
          out.mask = parse_mask_list(f);
        } else {
          out.mask_source = MaskSource::file;
          out.path = absolute_path(f, "mask_file", ctx.base_dir);
          try {
            out.mask = read_mask_npy(out.path, ctx.dim);
          } catch (const InputError& e) {
            f.fail("mask_file", e.what());
          }
        }
        if (random) out.seed = f.has("seed") ? f.seed("seed") : ctx.derived_seed;
        out.built = build_entry_sampling(f, out, ctx.dim);
        out.measurements = out.built->measurements();
      },
      [](const OperatorConfig& c) {
        nlohmann::json j = {{"type", "entry_sampling"}};
        switch (c.mask_source) {
          case MaskSource::probability: j["probability"] = c.probability; break;
          case MaskSource::count: j["count"] = c.measurements; break;
          case MaskSource::list: {
            nlohmann::json pairs = nlohmann::json::array();
            for (const Entry& e : c.mask) pairs.push_back({e.i, e.j});
            j["mask"] = pairs;
            break;
          }
          case MaskSource::file: j["mask_file"] = c.path; break;
        }
        if (c.mask_source == MaskSource::probability || c.mask_source == MaskSource::count) j["seed"] = c.seed;
        j["scale"] = to_string(c.entry_scale);
        return j;
      },
      [](const OperatorConfig& c, Index) -> std::shared_ptr<const SensingOperator> { return c.built; }});

  // User-supplied A_i from an (m, d, d) .npy, checked (shape, finiteness,
  // symmetry naming [k, i, j]) and packed while parsing.
  t.push_back(OperatorType{
      "matrices",
      {"path", "scale", "symmetry_tol"},
      [](const Fields& f, const OperatorParseContext& ctx, OperatorConfig& out) {
        out.scale = parse_scale(f);
        out.symmetry_tol = f.number("symmetry_tol", out.symmetry_tol);
        f.require_nonnegative("symmetry_tol", out.symmetry_tol);
        out.path = absolute_path(f, "path", ctx.base_dir);
        std::shared_ptr<const MatrixOperator> op;
        try {
          op = std::make_shared<MatrixOperator>(MatrixOperator::from_npy(out.path, out.scale, out.symmetry_tol));
        } catch (const InputError& e) {
          f.fail("path", e.what());
        }
        if (op->dim() != ctx.dim)
          f.fail("path", out.path + ": expected matrices of side d = " + std::to_string(ctx.dim) +
                             " (dim), shape (m, " + std::to_string(ctx.dim) + ", " + std::to_string(ctx.dim) +
                             "), got shape (" + std::to_string(op->measurements()) + ", " +
                             std::to_string(op->dim()) + ", " + std::to_string(op->dim()) + ")");
        out.measurements = op->measurements();
        out.built = op;
      },
      [](const OperatorConfig& c) {
        return nlohmann::json{
            {"type", "matrices"}, {"path", c.path}, {"scale", to_string(c.scale)}, {"symmetry_tol", c.symmetry_tol}};
      },
      [](const OperatorConfig& c, Index) -> std::shared_ptr<const SensingOperator> { return c.built; }});

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

double operator_storage_bytes(const SensingOperator& op) {
  if (const auto* p = dynamic_cast<const PackedOperator*>(&op))
    return 8.0 * static_cast<double>(p->packed_rows().size());
  if (const auto* r = dynamic_cast<const RankOneOperator*>(&op))
    return 8.0 * static_cast<double>(r->vectors().size());
  if (const auto* e = dynamic_cast<const EntrySamplingOperator*>(&op))
    return static_cast<double>(sizeof(Entry) * e->mask().size());
  return 0.0;
}

}  // namespace flowsense
