#pragma once
// Helpers shared by the config tests (test_config*.cpp, test_check.cpp).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/experiment/config.hpp"

namespace flowsense::testing {

/// A fresh folder under the system's temporary directory, removed at the end.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    Rng rng(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    path = std::filesystem::temp_directory_path() / ("flowsense_config_" + std::to_string(rng.engine()()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

/// parse() must throw an InputError whose where() is `where` and whose
/// message contains each of `parts`; `input` names what was parsed.
inline void require_input_error(const std::function<void()>& parse, const std::string& input,
                                const std::string& where, const std::vector<std::string>& parts) {
  try {
    parse();
  } catch (const InputError& e) {
    INFO("message: " << e.what());
    CHECK(e.where() == where);
    for (const auto& p : parts) CHECK_THAT(e.what(), Catch::Matchers::Contains(p));
    return;
  }
  FAIL("expected an InputError at " << where << " for " << input);
}

/// parse_config(config) must throw such an InputError.
inline void require_bad(const nlohmann::json& config, const std::string& where,
                        const std::vector<std::string>& parts, const std::string& base_dir = ".") {
  require_input_error([&] { parse_config(config, base_dir); }, config.dump(), where, parts);
}

}  // namespace flowsense::testing
