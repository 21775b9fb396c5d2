#include "flowsense/trajectory/trajectory.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "flowsense/io/atomic_file.hpp"

namespace flowsense {

bool Trajectory::has_column(const std::string& name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

std::vector<double> Trajectory::column(const std::string& name) const {
  auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end()) throw std::out_of_range("Trajectory: no column named '" + name + "'");
  const auto j = static_cast<std::size_t>(it - columns.begin());
  std::vector<double> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(row[j]);
  return out;
}

double Trajectory::final_value(const std::string& name) const {
  auto c = column(name);
  if (c.empty()) throw std::out_of_range("Trajectory: no rows recorded");
  return c.back();
}

void Trajectory::write_csv(const std::string& path) const {
  std::string out;
  for (std::size_t j = 0; j < columns.size(); ++j) out += (j ? "," : "") + columns[j];
  out += '\n';
  char buf[32];
  for (const auto& row : rows) {
    for (std::size_t j = 0; j < row.size(); ++j) {
      std::snprintf(buf, sizeof buf, "%.17g", row[j]);
      if (j) out += ',';
      out += buf;
    }
    out += '\n';
  }
  write_file_atomically(path, out);
}

}  // namespace flowsense
