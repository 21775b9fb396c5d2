#pragma once
// A 64-byte aligned array of doubles (a cache line, and one AVX-512
// vector): the padded layouts of the kernels (symmetric_panels.hpp,
// fused_residual.hpp) and their per-thread workspaces, whose loops read and
// write whole aligned vectors only.
#include <memory>

#include "flowsense/core/types.hpp"

namespace flowsense {

class AlignedDoubles {
public:
  /// At least n doubles, 64-byte aligned; grows only, and after growing the
  /// contents are unspecified (callers fill what they use). Throws
  /// std::bad_alloc.
  double* reserve(Index n);
  double* data() { return data_.get(); }
  const double* data() const { return data_.get(); }

private:
  struct Free {
    void operator()(double* p) const;
  };
  std::unique_ptr<double[], Free> data_;
  Index capacity_ = 0;
};

}  // namespace flowsense
