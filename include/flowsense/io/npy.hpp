#pragma once
// NumPy .npy files (format versions 1.0, 2.0 and 3.0) of little-endian
// float64 / float32 / int32 / int64 arrays, C or Fortran order, read into
// double. Every failure is an InputError whose where() is the file's path and
// whose message says what is wrong with it: bad magic, unsupported version,
// unparsable header, unsupported dtype (big-endian data included), shape,
// truncated or surplus data, non-finite entries (with the index of the first
// one), a missing or unreadable file.
//
// The format (numpy.lib.format): the magic "\x93NUMPY", one byte major and
// one byte minor version, the header length (uint16 in 1.0, uint32 in 2.0 and
// 3.0, little endian), then the header, a Python dict literal such as
//   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a newline, then the raw data.
#include <string>
#include <vector>

#include "flowsense/core/types.hpp"

namespace flowsense {

/// The element types we read and write ('<f8', '<f4', '<i4', '<i8').
enum class NpyDtype { float64, float32, int32, int64 };

/// The NumPy descr string of a dtype, e.g. "<f8".
std::string to_descr(NpyDtype dtype);

struct NpyArray {
  std::vector<Index> shape;  ///< empty for a 0-d array (one element)
  std::vector<double> data;  ///< row-major (C order) whatever the file's order
  NpyDtype dtype = NpyDtype::float64;  ///< the type the file stored
  bool fortran_order = false;          ///< the order the file stored
  int version = 1;                     ///< the file's major format version
};

struct NpyReadOptions {
  /// Reject NaN and +-Inf (naming the index of the first one). On by default
  /// because every array flowsense reads is a matrix it computes with.
  bool require_finite = true;
};

/// Reads any supported .npy file. Throws InputError(path, ...).
NpyArray read_npy(const std::string& path, const NpyReadOptions& options = {});

/// Reads a 2-D array of finite numbers as a matrix. Throws InputError(path, ...)
/// for anything read_npy rejects and for arrays that are not 2-D.
Matrix read_npy_matrix(const std::string& path);

struct NpyWriteOptions {
  NpyDtype dtype = NpyDtype::float64;
  bool fortran_order = false;
  /// 1, 2 or 3; 0 picks 1.0 unless the header needs the 4-byte length of 2.0.
  int version = 0;
};

/// The bytes of a .npy file holding `shape` / row-major `data`. float32
/// rounds to nearest; the integer types require integral values in range.
/// Throws std::invalid_argument on a size mismatch or an unrepresentable value.
std::string npy_bytes(const std::vector<Index>& shape, const std::vector<double>& data,
                      const NpyWriteOptions& options = {});

/// Writes a matrix as a little-endian float64, C-order .npy, atomically, so
/// that read_npy_matrix gives it back bit for bit.
void write_npy(const std::string& path, const Matrix& matrix);
/// Writes a row-major array of any shape, atomically.
void write_npy(const std::string& path, const std::vector<Index>& shape,
               const std::vector<double>& data, const NpyWriteOptions& options = {});

}  // namespace flowsense
