// Explicit instantiations of integrate() for the library's flows, so that
// users and tests do not recompile odeint for every translation unit.
#include "flowsense/integrate/integrate_impl.hpp"

namespace flowsense {

template Summary integrate<FactorFlow>(FactorFlow&, Matrix&, const std::vector<double>&,
                                       const IntegrateOptions&, const Watch&);
template Summary integrate<GramFlow>(GramFlow&, Matrix&, const std::vector<double>&,
                                     const IntegrateOptions&, const Watch&);

}  // namespace flowsense
