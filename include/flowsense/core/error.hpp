#pragma once
// One small error hierarchy (after odeint's odeint_error). Bad arguments to a
// library function throw std::invalid_argument naming the violated condition;
// bad *user input* (config files, .npy files) throws InputError, which names
// the field or file, the offending value and what is allowed. Numerical
// outcomes (divergence, stagnation) are never exceptions: they are a
// Termination in the run's Summary.
#include <stdexcept>
#include <string>

namespace flowsense {

class InputError : public std::runtime_error {
public:
  /// `where` is a config field path ("stepper.rtol") or a file name;
  /// `problem` says what is wrong and what is allowed.
  InputError(std::string where, const std::string& problem)
      : std::runtime_error(where + ": " + problem), where_(std::move(where)) {}
  const std::string& where() const noexcept { return where_; }

private:
  std::string where_;
};

}  // namespace flowsense
