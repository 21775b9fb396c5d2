#include "flowsense/trajectory/manifest.hpp"

#include <chrono>
#include <ctime>
#include <unistd.h>

#include "flowsense/io/atomic_file.hpp"
#include "flowsense/version.hpp"

namespace flowsense {

nlohmann::json to_json(const Summary& s) {
  nlohmann::json j = {{"termination", to_string(s.termination)},
                      {"message", s.message},
                      {"t", s.last.t},
                      {"steps", s.last.steps},
                      {"rejected", s.last.rejected},
                      {"rhs_evaluations", s.last.rhs},
                      {"last_step_size", s.last.h},
                      {"wall_seconds", s.wall_seconds}};
  // The stiff steppers (docs/steppers.md): what ran, why (auto), and their work.
  if (!s.stepper_used.empty()) j["stepper_used"] = s.stepper_used;
  if (!s.stepper_choice.empty()) j["stepper_choice"] = s.stepper_choice;
  if (s.last.jvp > 0 || s.stiff.spectral_estimates > 0 || s.stiff.linear_solves > 0) {
    const StiffStats& t = s.stiff;
    j["jacobian_vector_products"] = s.last.jvp;
    j["stiff"] = {{"spectral_estimates", t.spectral_estimates},
                  {"spectral_radius_first", t.spectral_radius_first},
                  {"spectral_radius_last", t.spectral_radius_last},
                  {"spectral_radius_max", t.spectral_radius_max},
                  {"stages_total", t.stages_total},
                  {"stages_max", t.stages_max},
                  {"jacobians", t.jacobians},
                  {"analytic_jacobians", t.analytic_jacobians},
                  {"factorizations", t.factorizations},
                  {"linear_solves", t.linear_solves},
                  {"krylov_iterations", t.krylov_iterations},
                  {"krylov_failures", t.krylov_failures},
                  {"preconditioner_builds", t.preconditioner_builds},
                  {"preconditioner_applications", t.preconditioner_applications},
                  {"preconditioner_factorizations", t.preconditioner_factorizations}};
  }
  return j;
}

nlohmann::json make_manifest(const nlohmann::json& fields) {
  nlohmann::json m;
  m["flowsense_version"] = version;
  // Last-bit differences between runs of one config can come from the build
  // (FMA contractions under -march=native), so the manifest says which it was.
  m["build"] = {{"compiler", build_compiler}, {"arch_flags", build_arch_flags}};
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  // gmtime_r, not std::gmtime: a sweep writes manifests from several
  // threads, and std::gmtime's static result raced between them (found by
  // ThreadSanitizer; `bash scripts/run.sh sanitize thread`).
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  m["created_utc"] = buf;
  for (auto it = fields.begin(); it != fields.end(); ++it) m[it.key()] = it.value();
  return m;
}

void write_json(const std::string& path, const nlohmann::json& value) {
  write_file_atomically(path, value.dump(2) + "\n");
}

}  // namespace flowsense
