#pragma once
// NumPy .npy files (format versions 1.0-3.0) of float64 / float32 / integer
// arrays, C or Fortran order, read into double. Every failure is an
// InputError that names the file and what is wrong with it (magic, version,
// header, dtype, shape, truncated data, non-finite entries).
#include <string>
#include <vector>

#include "flowsense/core/types.hpp"

namespace flowsense {

struct NpyArray {
  std::vector<Index> shape;
  std::vector<double> data;  ///< row-major (C order) whatever the file's order
};

/// Reads any supported .npy file. Throws InputError(path, ...).
NpyArray read_npy(const std::string& path);

/// Reads a 2-D array as a matrix; `what` names it in errors ("init.file").
/// Non-finite entries are rejected with the index of the first one.
Matrix read_npy_matrix(const std::string& path);

/// Writes a matrix as a little-endian float64, C-order .npy, atomically.
void write_npy(const std::string& path, const Matrix& matrix);
/// Writes a row-major array of any shape as float64, atomically.
void write_npy(const std::string& path, const std::vector<Index>& shape,
               const std::vector<double>& data);

}  // namespace flowsense
