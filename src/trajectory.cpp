#include "flowsense/trajectory/trajectory.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "flowsense/core/error.hpp"
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

namespace flowsense {

Trajectory read_trajectory_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path, "cannot open the trajectory CSV");
  Trajectory t;
  std::string line;
  if (!std::getline(in, line)) throw InputError(path, "empty file: expected a header line");
  {
    std::stringstream header(line);
    std::string name;
    while (std::getline(header, name, ',')) t.columns.push_back(name);
  }
  std::size_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    std::vector<double> row;
    const char* p = line.c_str();
    while (*p) {
      char* end = nullptr;
      row.push_back(std::strtod(p, &end));
      if (end == p) throw InputError(path, "line " + std::to_string(number) + ": not a number");
      p = end;
      if (*p == ',') ++p;
    }
    if (row.size() != t.columns.size())
      throw InputError(path, "line " + std::to_string(number) + ": expected " +
                                 std::to_string(t.columns.size()) + " values, got " +
                                 std::to_string(row.size()));
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace flowsense
