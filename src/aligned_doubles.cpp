#include "flowsense/core/aligned_doubles.hpp"

#include <cstdlib>
#include <new>

namespace flowsense {

namespace {
constexpr std::size_t alignment = 64;
}

void AlignedDoubles::Free::operator()(double* p) const { std::free(p); }

double* AlignedDoubles::reserve(Index n) {
  if (n <= capacity_ && data_) return data_.get();
  // aligned_alloc wants a multiple of the alignment, and not zero.
  const std::size_t bytes =
      (static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(double) + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, bytes);
  if (!p) throw std::bad_alloc();
  data_.reset(static_cast<double*>(p));
  capacity_ = n;
  return data_.get();
}

}  // namespace flowsense
