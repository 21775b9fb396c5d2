// integrate() instantiated for the batched flow, and integrate_batch().
#include "flowsense/integrate/integrate_batch.hpp"

#include <stdexcept>
#include <string>

#include "flowsense/integrate/integrate_impl.hpp"

namespace flowsense {

template Summary integrate<BatchFactorFlow>(BatchFactorFlow&, Matrix&, const std::vector<double>&,
                                            const IntegrateOptions&, const Watch&);

Summary integrate_batch(BatchFactorFlow& flow, std::vector<Matrix>& states, const std::vector<double>& times,
                        const IntegrateOptions& options, const Watch& watch) {
  if (static_cast<Index>(states.size()) != flow.members())
    throw std::invalid_argument("integrate_batch: expected " + std::to_string(flow.members()) +
                                " states (the flow's members), got " + std::to_string(states.size()));
  Matrix stacked = stack_members(states);
  const Summary summary = integrate(flow, stacked, times, options, watch);
  states = split_members(stacked, flow.members());
  return summary;
}

}  // namespace flowsense
