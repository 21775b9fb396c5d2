#pragma once
// A run's record: one row per observation time with named columns, optional
// snapshots of the state, and the Summary that says how the run ended.
#include <string>
#include <vector>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense {

struct Snapshot {
  double t;
  Matrix value;
};

struct Trajectory {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  std::vector<Snapshot> snapshots;
  Summary summary;

  /// The column named `name`; throws std::out_of_range naming it if absent.
  std::vector<double> column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  /// The last value of a column.
  double final_value(const std::string& name) const;

  /// CSV with a header line, numbers printed with 17 significant digits so
  /// that the file round-trips bit for bit. Written atomically.
  void write_csv(const std::string& path) const;
};

/// Reads a CSV written by Trajectory::write_csv (columns and rows; no
/// summary). Throws InputError naming the file and line on a malformed row.
Trajectory read_trajectory_csv(const std::string& path);

}  // namespace flowsense
