#include "flowsense/trajectory/manifest.hpp"

#include <chrono>
#include <ctime>
#include <unistd.h>

#include "flowsense/io/atomic_file.hpp"
#include "flowsense/version.hpp"

namespace flowsense {

nlohmann::json to_json(const Summary& s) {
  return {{"termination", to_string(s.termination)},
          {"message", s.message},
          {"t", s.last.t},
          {"steps", s.last.steps},
          {"rejected", s.last.rejected},
          {"rhs_evaluations", s.last.rhs},
          {"last_step_size", s.last.h},
          {"wall_seconds", s.wall_seconds}};
}

nlohmann::json make_manifest(const nlohmann::json& fields) {
  nlohmann::json m;
  m["flowsense_version"] = version;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  m["created_utc"] = buf;
  for (auto it = fields.begin(); it != fields.end(); ++it) m[it.key()] = it.value();
  return m;
}

void write_json(const std::string& path, const nlohmann::json& value) {
  write_file_atomically(path, value.dump(2) + "\n");
}

}  // namespace flowsense
