#pragma once
// The one entry point that reads like the math:
//
//   Summary s = integrate(flow, U, times, options, watch);
//
// advances `state` from times.front() through every observation time with
// the chosen odeint stepper, calls watch.observe at each of them, and after
// every accepted step asks the stop rules, checks for a non-finite state and
// honours watch.cancel. It never throws for a numerical outcome: the Summary
// says why and where it stopped, and `state` holds the last good state.
//
// Fixed-step steppers (Euler, RK4) take exactly the step options.step, and
// observation times are snapped to the step grid t0 + k h (so Euler is the
// papers' GD iteration k). Adaptive steppers clip their step to land exactly
// on each observation time. The steppers for stiff phases (rkc, rosenbrock,
// bdf, auto; docs/steppers.md) also need the system's Jacobian-vector product and
// report what they did in Summary::stepper_used / stepper_choice / stiff.
//
// Instantiated in the library for FactorFlow and GramFlow; include
// integrate/integrate_impl.hpp to use it with a system of your own
// (any callable sys(x, dxdt, t) on Eigen matrices).
#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "flowsense/core/types.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/integrate/stepper.hpp"
#include "flowsense/integrate/stop_rules.hpp"

namespace flowsense {

using Observer = std::function<void(const Matrix& state, const StepInfo& info)>;

struct Watch {
  Observer observe;                                ///< at each observation time
  std::vector<std::shared_ptr<StopRule>> stop_rules;
  /// Called about four times a second with where the run is and where it ends.
  std::function<void(const StepInfo& info, double t_end)> progress;
  const std::atomic<bool>* cancel = nullptr;       ///< set to true to interrupt
};

template <class System>
Summary integrate(System& system, Matrix& state, const std::vector<double>& times,
                  const IntegrateOptions& options, const Watch& watch);

extern template Summary integrate<FactorFlow>(FactorFlow&, Matrix&, const std::vector<double>&,
                                              const IntegrateOptions&, const Watch&);
extern template Summary integrate<GramFlow>(GramFlow&, Matrix&, const std::vector<double>&,
                                            const IntegrateOptions&, const Watch&);

}  // namespace flowsense
