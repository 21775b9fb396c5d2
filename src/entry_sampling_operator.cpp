#include "flowsense/problem/entry_sampling_operator.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "flowsense/core/error.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {

/// A number as a user would write it (1, 0.5, nan), for messages.
std::string num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

const double sqrt2 = std::sqrt(2.0);
const double inv_sqrt2 = 1.0 / std::sqrt(2.0);

std::string entry_string(const Entry& e) {
  return "(" + std::to_string(e.i) + ", " + std::to_string(e.j) + ")";
}

// Index of (i, j), i <= j, in packed order (row i, then j = i..d-1).
Index packed_index(Index d, const Entry& e) { return e.i * d - e.i * (e.i - 1) / 2 + (e.j - e.i); }

// Empty if the mask is valid, else what is wrong with its first bad entry.
std::string mask_problem(Index d, const std::vector<Entry>& mask) {
  if (mask.empty()) return "expected a nonempty mask, got no entries";
  for (std::size_t k = 0; k < mask.size(); ++k) {
    const Entry& e = mask[k];
    if (e.i < 0 || e.j < 0 || e.i >= d || e.j >= d)
      return "entry " + std::to_string(k) + " = " + entry_string(e) + " is out of range: expected 0 <= i <= j < d = " +
             std::to_string(d);
    if (e.i > e.j)
      return "entry " + std::to_string(k) + " = " + entry_string(e) +
             " has i > j: list each observed entry once, as its upper-triangular (i <= j) position";
  }
  std::vector<std::pair<Index, std::size_t>> keys(mask.size());
  for (std::size_t k = 0; k < mask.size(); ++k) keys[k] = {packed_index(d, mask[k]), k};
  std::sort(keys.begin(), keys.end());
  // The first repeat in list order: the smallest later position among equal keys.
  std::size_t first_repeat = mask.size();
  for (std::size_t t = 1; t < keys.size(); ++t)
    if (keys[t].first == keys[t - 1].first) first_repeat = std::min(first_repeat, keys[t].second);
  if (first_repeat < mask.size())
    return "entry " + std::to_string(first_repeat) + " = " + entry_string(mask[first_repeat]) +
           " repeats an earlier entry";
  return {};
}

}  // namespace

EntrySamplingOperator::EntrySamplingOperator(Index d, std::vector<Entry> mask, EntryScale scale)
    : EntrySamplingOperator(d, std::move(mask), scale, -1.0) {}

EntrySamplingOperator::EntrySamplingOperator(Index d, std::vector<Entry> mask, EntryScale scale, double q)
    : d_(d), mask_(std::move(mask)), scale_(scale), q_(q) {
  if (d < 1) throw std::invalid_argument("EntrySamplingOperator: expected d >= 1, got " + std::to_string(d));
  if (const std::string problem = mask_problem(d, mask_); !problem.empty())
    throw std::invalid_argument("EntrySamplingOperator: " + problem);
  if (q_ < 0) q_ = static_cast<double>(mask_.size()) / static_cast<double>(packed_size(d));
  s_ = scale_ == EntryScale::unbiased ? 1.0 / std::sqrt(q_) : 1.0;
}

EntrySamplingOperator EntrySamplingOperator::random(Index d, double q, std::uint64_t seed, EntryScale scale) {
  if (d < 1) throw std::invalid_argument("EntrySamplingOperator::random: expected d >= 1, got " + std::to_string(d));
  if (!(q > 0 && q <= 1))
    throw std::invalid_argument("EntrySamplingOperator::random: expected a probability q in (0, 1], got " +
                                num(q));
  Rng rng(seed);
  std::vector<Entry> mask;
  mask.reserve(static_cast<std::size_t>(q * static_cast<double>(packed_size(d)) * 1.1) + 16);
  for (Index i = 0; i < d; ++i)
    for (Index j = i; j < d; ++j)
      if (rng.uniform() < q) mask.push_back({i, j});
  if (mask.empty())
    throw std::invalid_argument("EntrySamplingOperator::random: no entry was drawn for d = " + std::to_string(d) +
                                ", q = " + std::to_string(q) + ", seed = " + std::to_string(seed) +
                                "; raise q");
  return EntrySamplingOperator(d, std::move(mask), scale, q);
}

EntrySamplingOperator EntrySamplingOperator::random_count(Index d, Index count, std::uint64_t seed,
                                                          EntryScale scale) {
  if (d < 1)
    throw std::invalid_argument("EntrySamplingOperator::random_count: expected d >= 1, got " + std::to_string(d));
  const Index D = packed_size(d);
  if (count < 1 || count > D)
    throw std::invalid_argument("EntrySamplingOperator::random_count: expected 1 <= count <= D = d(d+1)/2 = " +
                                std::to_string(D) + ", got " + std::to_string(count));
  // Knuth's selection sampling (Algorithm S): take coordinate k with
  // probability (still needed) / (still left); every count-subset is equally
  // likely and the result is already in packed order.
  Rng rng(seed);
  std::vector<Entry> mask;
  mask.reserve(static_cast<std::size_t>(count));
  Index left = D, needed = count;
  for (Index i = 0; i < d && needed > 0; ++i)
    for (Index j = i; j < d && needed > 0; ++j, --left)
      if (static_cast<double>(left) * rng.uniform() < static_cast<double>(needed)) {
        mask.push_back({i, j});
        --needed;
      }
  return EntrySamplingOperator(d, std::move(mask), scale,
                               static_cast<double>(count) / static_cast<double>(D));
}

Matrix EntrySamplingOperator::sensing_matrix(Index k) const {
  const Entry& e = mask_.at(static_cast<std::size_t>(k));
  Matrix A = Matrix::Zero(d_, d_);
  if (e.i == e.j) {
    A(e.i, e.i) = 1.0;
  } else {
    A(e.i, e.j) = inv_sqrt2;
    A(e.j, e.i) = inv_sqrt2;
  }
  return A;
}

void EntrySamplingOperator::apply(const Matrix& X, Vector& y) const {
  if (X.rows() != d_ || X.cols() != d_)
    throw std::invalid_argument("EntrySamplingOperator::apply: expected a " + std::to_string(d_) + " x " +
                                std::to_string(d_) + " matrix, got " + std::to_string(X.rows()) + " x " +
                                std::to_string(X.cols()));
  y.resize(measurements());
  const double off = s_ * sqrt2;
  for (std::size_t k = 0; k < mask_.size(); ++k) {
    const Entry& e = mask_[k];
    y[static_cast<Index>(k)] = (e.i == e.j ? s_ : off) * X(e.i, e.j);
  }
}

void EntrySamplingOperator::adjoint(const Vector& y, Matrix& S) const {
  if (y.size() != measurements())
    throw std::invalid_argument("EntrySamplingOperator::adjoint: expected y of length " +
                                std::to_string(measurements()) + ", got " + std::to_string(y.size()));
  S.setZero(d_, d_);
  const double off = s_ * inv_sqrt2;
  for (std::size_t k = 0; k < mask_.size(); ++k) {
    const Entry& e = mask_[k];
    const double v = y[static_cast<Index>(k)];
    if (e.i == e.j) {
      S(e.i, e.i) += s_ * v;
    } else {
      S(e.i, e.j) += off * v;
      S(e.j, e.i) += off * v;
    }
  }
}

void EntrySamplingOperator::apply_gram(const Matrix& U, Vector& y) const {
  if (U.rows() != d_)
    throw std::invalid_argument("EntrySamplingOperator::apply_gram: expected " + std::to_string(d_) +
                                " rows, got " + std::to_string(U.rows()));
  // Columns of U^T are the rows of U, contiguous: (UU^T)(i, j) = <Ut_i, Ut_j>.
  const Matrix Ut = U.transpose();
  y.resize(measurements());
  const double off = s_ * sqrt2;
  for (std::size_t k = 0; k < mask_.size(); ++k) {
    const Entry& e = mask_[k];
    y[static_cast<Index>(k)] = (e.i == e.j ? s_ : off) * Ut.col(e.i).dot(Ut.col(e.j));
  }
}

void EntrySamplingOperator::adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const {
  if (U.rows() != d_)
    throw std::invalid_argument("EntrySamplingOperator::adjoint_times: expected " + std::to_string(d_) +
                                " rows, got " + std::to_string(U.rows()));
  if (y.size() != measurements())
    throw std::invalid_argument("EntrySamplingOperator::adjoint_times: expected y of length " +
                                std::to_string(measurements()) + ", got " + std::to_string(y.size()));
  const Matrix Ut = U.transpose();
  Matrix outT = Matrix::Zero(U.cols(), d_);
  const double off = s_ * inv_sqrt2;
  for (std::size_t k = 0; k < mask_.size(); ++k) {
    const Entry& e = mask_[k];
    const double v = y[static_cast<Index>(k)];
    if (e.i == e.j) {
      outT.col(e.i) += (s_ * v) * Ut.col(e.i);
    } else {
      outT.col(e.i) += (off * v) * Ut.col(e.j);
      outT.col(e.j) += (off * v) * Ut.col(e.i);
    }
  }
  out = outT.transpose();
}

void EntrySamplingOperator::gram_jacobian(const Matrix& U, Matrix& Jr) const {
  if (U.rows() != d_)
    throw std::invalid_argument("EntrySamplingOperator::gram_jacobian: expected " + std::to_string(d_) +
                                " rows, got " + std::to_string(U.rows()));
  const Index p = U.cols();
  Jr.setZero(measurements(), d_ * p);
  const double off = s_ * sqrt2;
  for (std::size_t k = 0; k < mask_.size(); ++k) {
    const Entry& e = mask_[k];
    const auto kk = static_cast<Index>(k);
    for (Index c = 0; c < p; ++c) {
      if (e.i == e.j) {
        Jr(kk, e.i + d_ * c) = 2.0 * s_ * U(e.i, c);
      } else {
        Jr(kk, e.i + d_ * c) = off * U(e.j, c);
        Jr(kk, e.j + d_ * c) = off * U(e.i, c);
      }
    }
  }
}

// ---- masks from user arrays ----

std::vector<Entry> mask_from_array(const NpyArray& array, Index d, const std::string& source) {
  const auto& shape = array.shape;
  auto shape_string = [&] {
    std::string s = "(";
    for (std::size_t t = 0; t < shape.size(); ++t) s += (t ? ", " : "") + std::to_string(shape[t]);
    return s + (shape.size() == 1 ? ",)" : ")");
  };
  const std::string dd = "(" + std::to_string(d) + ", " + std::to_string(d) + ")";
  std::vector<Entry> mask;
  if (shape.size() == 2 && shape[0] == d && shape[1] == d) {
    auto at = [&](Index i, Index j) { return array.data[static_cast<std::size_t>(i * d + j)]; };
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < d; ++j) {
        const double v = at(i, j);
        if (!(v == 0.0 || v == 1.0))
          throw InputError(source, "mask entry [" + std::to_string(i) + ", " + std::to_string(j) + "] = " +
                                       num(v) + ": a (d, d) mask must hold only 0 and 1");
        if (j > i && v != at(j, i))
          throw InputError(source, "mask is not symmetric: entry [" + std::to_string(i) + ", " +
                                       std::to_string(j) + "] = " + num(v) + " but [" +
                                       std::to_string(j) + ", " + std::to_string(i) + "] = " +
                                       num(at(j, i)));
      }
    for (Index i = 0; i < d; ++i)
      for (Index j = i; j < d; ++j)
        if (at(i, j) == 1.0) mask.push_back({i, j});
  } else if (shape.size() == 2 && shape[1] == 2) {
    const Index k = shape[0];
    mask.reserve(static_cast<std::size_t>(k));
    for (Index r = 0; r < k; ++r) {
      const double a = array.data[static_cast<std::size_t>(2 * r)];
      const double b = array.data[static_cast<std::size_t>(2 * r + 1)];
      if (!(std::isfinite(a) && std::isfinite(b)) || a != std::floor(a) || b != std::floor(b))
        throw InputError(source, "row " + std::to_string(r) + " = (" + num(a) + ", " +
                                     num(b) + "): index pairs must be integers");
      if (a < 0 || b < 0 || a >= static_cast<double>(d) || b >= static_cast<double>(d))
        throw InputError(source, "row " + std::to_string(r) + " = (" + num(a) + ", " +
                                     num(b) + ") is out of range: expected 0 <= i <= j < d = " +
                                     std::to_string(d));
      mask.push_back({static_cast<Index>(a), static_cast<Index>(b)});
    }
  } else {
    throw InputError(source, "expected a mask of shape " + dd + " (0/1 matrix) or (k, 2) (index pairs), got " +
                                 shape_string());
  }
  if (const std::string problem = mask_problem(d, mask); !problem.empty())
    throw InputError(source, problem);
  return mask;
}

}  // namespace flowsense
