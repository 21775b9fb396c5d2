// The file-reading entry points of the operators, kept apart from their
// numerics: reading a .npy is io/npy.hpp's job, checking what it holds is the
// operator's.
#include "flowsense/io/npy.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/matrix_operator.hpp"

namespace flowsense {

namespace {
// The operators check finiteness themselves, after the shape, so that a
// file of the wrong shape is reported as such and a NaN is named by its
// matrix index [k, i, j].
NpyArray read_unchecked(const std::string& path) {
  NpyReadOptions options;
  options.require_finite = false;
  return read_npy(path, options);
}
}  // namespace

MatrixOperator MatrixOperator::from_npy(const std::string& path, GaussianScale scale, double symmetry_tol) {
  return from_array(read_unchecked(path), path, scale, symmetry_tol);
}

std::vector<Entry> read_mask_npy(const std::string& path, Index d) {
  return mask_from_array(read_unchecked(path), d, path);
}

}  // namespace flowsense
