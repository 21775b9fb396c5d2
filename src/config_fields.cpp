#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <limits>

#include "flowsense/core/error.hpp"
#include "flowsense/experiment/fields.hpp"

namespace flowsense {

namespace {

std::string type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "a value";
  }
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(const std::string& given, const std::vector<std::string>& allowed) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& a : allowed) {
    const std::size_t d = edit_distance(given, a);
    if (d < best_d) {
      best_d = d;
      best = a;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

}  // namespace

std::string describe_json(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text + " (" + type_name(value) + ")";
}

std::string format_number(double value) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string s;
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? separator : "") + items[i];
  return s;
}

Fields::Fields(const nlohmann::json& object, std::string path) : object_(object), path_(std::move(path)) {
  if (!object_.is_object())
    throw InputError(path_.empty() ? "config" : path_,
                     "expected a JSON object {...}, got " + describe_json(object_));
}

std::string Fields::path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

const nlohmann::json& Fields::raw(const std::string& key) const {
  require(key, "a value");
  return object_.at(key);
}

void Fields::fail(const std::string& key, const std::string& message) const {
  throw InputError(path(key), message);
}

void Fields::allow_only(const std::vector<std::string>& allowed) const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    const std::string in = path_.empty() ? "at the top level" : "in '" + path_ + "'";
    fail(it.key(), "unknown field '" + it.key() + "' " + in + "; allowed: " + join(allowed) +
                       did_you_mean(it.key(), allowed));
  }
}

void Fields::require(const std::string& key, const std::string& what) const {
  if (!object_.contains(key)) fail(key, "missing required field (expected " + what + ")");
}

double Fields::number(const std::string& key) const {
  require(key, "a number");
  const auto& v = object_.at(key);
  if (!v.is_number()) fail(key, "expected a number, got " + describe_json(v));
  return v.get<double>();
}

double Fields::number(const std::string& key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

std::int64_t Fields::integer(const std::string& key) const {
  require(key, "an integer");
  const auto& v = object_.at(key);
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(
                                                               std::numeric_limits<std::int64_t>::max()))
      fail(key, "expected an integer below 2^63, got " + v.dump());
    return v.get<std::int64_t>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == std::trunc(d) && std::abs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  fail(key, "expected an integer, got " + describe_json(v));
}

std::int64_t Fields::integer(const std::string& key, std::int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

std::uint64_t Fields::seed(const std::string& key) const {
  require(key, "a nonnegative integer seed");
  const auto& v = object_.at(key);
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d >= 0 && d == std::trunc(d) && d < 9.0e15) return static_cast<std::uint64_t>(d);
  }
  fail(key, "expected a seed, an integer in [0, 2^64), got " + describe_json(v));
}

bool Fields::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = object_.at(key);
  if (!v.is_boolean()) fail(key, "expected true or false, got " + describe_json(v));
  return v.get<bool>();
}

std::string Fields::string(const std::string& key) const {
  require(key, "a string");
  const auto& v = object_.at(key);
  if (!v.is_string()) fail(key, "expected a string, got " + describe_json(v));
  return v.get<std::string>();
}

std::string Fields::choice(const std::string& key, const std::vector<std::string>& allowed,
                           const std::string& noun) const {
  require(key, "one of: " + join(allowed));
  const auto& v = object_.at(key);
  if (!v.is_string()) fail(key, "expected a string, one of: " + join(allowed) + "; got " + describe_json(v));
  const std::string s = v.get<std::string>();
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
    fail(key, "unknown " + noun + " '" + s + "'; allowed: " + join(allowed) + did_you_mean(s, allowed));
  return s;
}

std::string Fields::choice(const std::string& key, const std::vector<std::string>& allowed,
                           const std::string& noun, const std::string& fallback) const {
  return has(key) ? choice(key, allowed, noun) : fallback;
}

std::vector<double> Fields::numbers(const std::string& key) const {
  require(key, "an array of numbers");
  const auto& v = object_.at(key);
  if (!v.is_array()) fail(key, "expected an array of numbers, got " + describe_json(v));
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number())
      throw InputError(path(key) + "[" + std::to_string(i) + "]",
                       "expected a number, got " + describe_json(v[i]));
    out.push_back(v[i].get<double>());
  }
  return out;
}

Fields Fields::object(const std::string& key) const {
  require(key, "an object {...}");
  return Fields(object_.at(key), path(key));
}

void Fields::require_positive(const std::string& key, double value) const {
  if (!(value > 0) || !std::isfinite(value)) fail(key, "expected a positive number, got " + format_number(value));
}

void Fields::require_nonnegative(const std::string& key, double value) const {
  if (!(value >= 0) || !std::isfinite(value))
    fail(key, "expected a nonnegative number, got " + format_number(value));
}

void Fields::require_range(const std::string& key, double value, double lo, double hi,
                           const std::string& allowed) const {
  if (!(value >= lo && value <= hi)) fail(key, "expected " + allowed + ", got " + format_number(value));
}

}  // namespace flowsense
