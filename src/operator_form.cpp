#include "flowsense/loss/operator_form.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "flowsense/core/packed.hpp"

namespace flowsense {

std::string to_string(OperatorForm form) {
  switch (form) {
    case OperatorForm::automatic: return "automatic";
    case OperatorForm::plain: return "plain";
    case OperatorForm::normal: return "normal";
  }
  return "?";
}

OperatorForm parse_operator_form(const std::string& name) {
  if (name == "automatic") return OperatorForm::automatic;
  if (name == "plain") return OperatorForm::plain;
  if (name == "normal") return OperatorForm::normal;
  throw std::invalid_argument("operator_form: expected \"automatic\", \"plain\" or \"normal\", got \"" + name +
                              "\"");
}

KernelCost kernel_cost(Index d, Index m, Index p, const MachineModel& machine, double expected_evaluations,
                       double required_speedup, bool fused_plain) {
  const double D = static_cast<double>(packed_size(d));
  const double dm = static_cast<double>(m), dd = static_cast<double>(d), dp = static_cast<double>(p);
  auto seconds = [&](double bytes, double flops) {
    return std::max(bytes / machine.bandwidth, flops / machine.peak_flops);
  };
  // Shared by both forms: X = U U^T and S U (2 d^2 p flops each, in cache).
  const double shared = seconds(0, 4 * dd * dd * dp);
  KernelCost c;
  c.plain_seconds = seconds((fused_plain ? 8 : 16) * dm * D, 4 * dm * D) + shared;
  c.normal_seconds = seconds(8 * D * D, 2 * D * D) + shared;
  c.build_seconds = seconds(8 * dm * D, dm * D * (D + 1));
  c.fused_plain = fused_plain;
  c.expected_evaluations = expected_evaluations;
  c.required_speedup = required_speedup;
  c.normal_cheaper = c.normal_seconds < c.plain_seconds;
  c.normal_pays = (c.build_seconds + expected_evaluations * c.normal_seconds) * required_speedup <
                  expected_evaluations * c.plain_seconds;
  return c;
}

std::string KernelCost::describe() const {
  std::ostringstream s;
  s.precision(3);
  s << "model per gradient: plain " << plain_seconds * 1e6 << (fused_plain ? " us (one pass over M)" : " us")
    << ", normal " << normal_seconds * 1e6
    << " us; building Q " << build_seconds * 1e3 << " ms";
  s << "; over " << expected_evaluations << " evaluations the normal form "
    << (normal_pays ? "pays" : (normal_cheaper ? "is not " : "is slower"));
  if (!normal_pays && normal_cheaper) s << required_speedup << "x cheaper (build included)";
  else if (normal_pays) s << " (at least " << required_speedup << "x cheaper, build included)";
  return s.str();
}

}  // namespace flowsense
