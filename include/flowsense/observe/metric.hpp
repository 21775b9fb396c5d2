#pragma once
// A metric computes one quantity (one or a few named columns) at each
// observation time. To write your own, implement exactly columns() and
// measure(); measure() appends columns().size() values to `row`.
#include <string>
#include <vector>

#include "flowsense/observe/observation.hpp"

namespace flowsense {

class Metric {
public:
  virtual ~Metric() = default;
  virtual std::vector<std::string> columns() const = 0;
  virtual void measure(Observation& observation, std::vector<double>& row) const = 0;
};

}  // namespace flowsense
