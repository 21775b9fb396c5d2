#pragma once
// Reading one JSON object of a config with errors that name the field path.
//
//   Fields f(json["stepper"], "stepper");
//   f.allow_only({"type", "rtol"});          // "unknown field 'rtl' in 'stepper'; ..."
//   double rtol = f.number("rtol", 1e-8);   // default when absent
//   f.require_positive("rtol", rtol);        // "stepper.rtol: expected > 0, got -1"
//
// Every failure throws InputError(where = "stepper.rtol", message = the value
// and what is allowed). Used by the config parser and by every branch of the
// operator table, so all of them speak the same way.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flowsense {

class Fields {
public:
  /// `path` is the object's own path ("stepper", "" for the top level).
  /// Throws InputError(path) if `object` is not a JSON object.
  Fields(const nlohmann::json& object, std::string path);

  const std::string& path() const { return path_; }
  /// The path of a member: "stepper.rtol", or "seed" at the top level.
  std::string path(const std::string& key) const;
  bool has(const std::string& key) const { return object_.contains(key); }
  const nlohmann::json& raw(const std::string& key) const;

  /// Throws for the first member whose name is not in `allowed`, listing them
  /// (with a did-you-mean when a name is one or two edits away).
  void allow_only(const std::vector<std::string>& allowed) const;
  /// Throws InputError(path(key), "missing required field ...") if absent.
  void require(const std::string& key, const std::string& what) const;

  double number(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  /// A JSON integer (or a float with an integral value, e.g. 1e5).
  std::int64_t integer(const std::string& key) const;
  std::int64_t integer(const std::string& key, std::int64_t fallback) const;
  std::uint64_t seed(const std::string& key) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key) const;
  /// A string that must be one of `allowed`; `noun` names it in the message
  /// ("unknown stepper 'rk5'; allowed: ...").
  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     const std::string& noun) const;
  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     const std::string& noun, const std::string& fallback) const;
  std::vector<double> numbers(const std::string& key) const;
  Fields object(const std::string& key) const;

  // Range checks on a value read from `key`; each throws naming the field.
  void require_positive(const std::string& key, double value) const;     // > 0
  void require_nonnegative(const std::string& key, double value) const;  // >= 0
  void require_range(const std::string& key, double value, double lo, double hi,
                     const std::string& allowed) const;  // lo <= value <= hi

  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

private:
  const nlohmann::json& object_;
  std::string path_;
};

/// A JSON value in a short, quoted form for messages: "\"abc\" (a string)".
std::string describe_json(const nlohmann::json& value);
/// A number the way a user typed it (shortest round-tripping form).
std::string format_number(double value);
/// "a, b, c".
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace flowsense
