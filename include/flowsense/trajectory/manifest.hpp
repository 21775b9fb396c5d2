#pragma once
// Manifests: every output directory carries a JSON file that says what made
// it (config, seed, version, stepper statistics, how the run ended), so a run
// can be repeated bit for bit.
#include <string>

#include <nlohmann/json.hpp>

#include "flowsense/integrate/stepper.hpp"

namespace flowsense {

/// {"termination", "message", "t", "steps", "rejected", "rhs_evaluations", "wall_seconds",
///  "stepper_used"}, plus "stepper_choice" (stepper auto: what it picked and why) and
/// "jacobian_vector_products" with a "stiff" object of StiffStats for the stiff steppers.
nlohmann::json to_json(const Summary& summary);

/// {"flowsense_version", "build": {"compiler", "arch_flags"}, "created_utc"} plus `fields`.
nlohmann::json make_manifest(const nlohmann::json& fields);

/// Pretty-printed JSON, written atomically.
void write_json(const std::string& path, const nlohmann::json& value);

}  // namespace flowsense
