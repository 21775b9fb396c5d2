#include "flowsense/problem/matrix_operator.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "flowsense/core/error.hpp"
#include "flowsense/core/packed.hpp"

namespace flowsense {

namespace {

std::string num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string index_string(Index k, Index i, Index j) {
  return "[" + std::to_string(k) + ", " + std::to_string(i) + ", " + std::to_string(j) + "]";
}

// Checks m matrices of side d read through at(k, i, j) and packs their
// symmetric parts scaled by s. On the first problem, calls fail(message)
// (which throws).
template <class At, class Fail>
Matrix check_and_pack(Index m, Index d, double s, double symmetry_tol, const At& at, const Fail& fail) {
  for (Index k = 0; k < m; ++k)
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < d; ++j)
        if (!std::isfinite(at(k, i, j)))
          fail("entry A" + index_string(k, i, j) + " = " + num(at(k, i, j)) + ": entries must be finite");
  for (Index k = 0; k < m; ++k) {
    double largest = 0.0;
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < d; ++j) largest = std::max(largest, std::abs(at(k, i, j)));
    const double tol = symmetry_tol * largest;
    for (Index i = 0; i < d; ++i)
      for (Index j = i + 1; j < d; ++j) {
        const double gap = std::abs(at(k, i, j) - at(k, j, i));
        if (gap > tol)
          fail("matrix " + std::to_string(k) + " is not symmetric: A" + index_string(k, i, j) + " = " +
               num(at(k, i, j)) + " but A" + index_string(k, j, i) + " = " + num(at(k, j, i)) +
               " (difference " + num(gap) + " > " + num(symmetry_tol) + " * max|A[" + std::to_string(k) + "]| = " + num(tol) + ")");
      }
  }
  const double sqrt2 = std::sqrt(2.0);
  Matrix rows(m, packed_size(d));
  for (Index k = 0; k < m; ++k) {
    Index c = 0;
    for (Index i = 0; i < d; ++i) {
      rows(k, c++) = s * at(k, i, i);
      for (Index j = i + 1; j < d; ++j) rows(k, c++) = s * sqrt2 * 0.5 * (at(k, i, j) + at(k, j, i));
    }
  }
  return rows;
}

void check_scale(double s) {
  if (!(s > 0) || !std::isfinite(s))
    throw std::invalid_argument("MatrixOperator: expected a finite scale > 0, got " + num(s));
}

Index side_of(const std::vector<Matrix>& matrices) {
  if (matrices.empty()) throw std::invalid_argument("MatrixOperator: expected m >= 1 matrices, got none");
  const Index d = matrices.front().rows();
  if (d < 1) throw std::invalid_argument("MatrixOperator: expected matrices of side d >= 1, got 0");
  for (std::size_t k = 0; k < matrices.size(); ++k)
    if (matrices[k].rows() != d || matrices[k].cols() != d)
      throw std::invalid_argument("MatrixOperator: expected every matrix to be " + std::to_string(d) + " x " +
                                  std::to_string(d) + " (the size of matrix 0), matrix " + std::to_string(k) +
                                  " is " + std::to_string(matrices[k].rows()) + " x " +
                                  std::to_string(matrices[k].cols()));
  return d;
}

Matrix pack_matrices(const std::vector<Matrix>& matrices, double s) {
  check_scale(s);
  const Index d = side_of(matrices);
  const auto m = static_cast<Index>(matrices.size());
  return check_and_pack(
      m, d, s, MatrixOperator::symmetry_tolerance, [&](Index k, Index i, Index j) { return matrices[static_cast<std::size_t>(k)](i, j); },
      [](const std::string& message) { throw std::invalid_argument("MatrixOperator: " + message); });
}

}  // namespace

MatrixOperator::MatrixOperator(const std::vector<Matrix>& matrices, double scale)
    : PackedOperator("MatrixOperator", matrices.empty() ? 1 : matrices.front().rows(),
                     pack_matrices(matrices, scale), scale) {}

MatrixOperator::MatrixOperator(Index d, Matrix&& rows, double scale)
    : PackedOperator("MatrixOperator", d, std::move(rows), scale) {}

MatrixOperator MatrixOperator::from_array(const NpyArray& array, const std::string& source, GaussianScale scale,
                                          double symmetry_tol) {
  if (!(symmetry_tol >= 0) || !std::isfinite(symmetry_tol))
    throw std::invalid_argument("MatrixOperator::from_array: expected a symmetry tolerance >= 0, got " +
                                num(symmetry_tol));
  const auto& shape = array.shape;
  std::string shape_text = "(";
  for (std::size_t t = 0; t < shape.size(); ++t) shape_text += (t ? ", " : "") + std::to_string(shape[t]);
  shape_text += shape.size() == 1 ? ",)" : ")";
  if (shape.size() != 3)
    throw InputError(source, "expected a 3-D array of shape (m, d, d) holding the sensing matrices A_1..A_m, got " +
                                 std::to_string(shape.size()) + "-D shape " + shape_text +
                                 (shape.size() == 2 ? " (for one matrix use shape (1, d, d))" : ""));
  if (shape[1] != shape[2])
    throw InputError(source, "expected square matrices, shape (m, d, d), got shape " + shape_text);
  const Index m = shape[0], d = shape[1];
  if (m < 1 || d < 1)
    throw InputError(source, "expected m >= 1 matrices of side d >= 1, got shape " + shape_text);
  if (array.data.size() != static_cast<std::size_t>(m * d * d))
    throw InputError(source, "holds " + std::to_string(array.data.size()) + " numbers, shape " + shape_text +
                                 " needs " + std::to_string(m * d * d));
  const double s = measurement_scale(scale, m);
  const double* data = array.data.data();
  Matrix rows = check_and_pack(
      m, d, s, symmetry_tol, [&](Index k, Index i, Index j) { return data[(k * d + i) * d + j]; },
      [&](const std::string& message) { throw InputError(source, message); });
  return MatrixOperator(d, std::move(rows), s);
}

}  // namespace flowsense
