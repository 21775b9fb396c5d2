#pragma once
// SIMD vectors for the kernels in src/ (not installed): GCC vector
// extensions, so that one source compiles to AVX-512, AVX or SSE2 code.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "flowsense/core/types.hpp"

namespace flowsense::simd {

// W doubles per vector: eight where the target has AVX-512 (one zmm
// register), four with AVX (one ymm), else two (SSE2, the x86-64 baseline
// of a FLOWSENSE_NATIVE_ARCH=OFF build, or NEON; wider GCC vectors there
// would be split anyway and change the ABI of these helpers, -Wpsabi). GCC
// contracts a*b + c to an FMA where the target has one.
#if defined(__AVX512F__)
constexpr int W = 8;
#elif defined(__AVX__)
constexpr int W = 4;
#else
constexpr int W = 2;
#endif
typedef double vec __attribute__((vector_size(8 * W)));

inline vec load(const double* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(double* p, vec v) { std::memcpy(p, &v, sizeof v); }
// a - 0 is a for every a (-0 too); GCC emits one broadcast (an element-wise
// loop here compiled to W masked broadcasts per call).
inline vec broadcast(double a) { return a - vec{}; }
inline double sum(vec a) {
  double s = 0;
  for (int k = 0; k < W; ++k) s += a[k];
  return s;
}

constexpr int registers = W == 8 ? 32 : 16;  // zmm with AVX-512, else ymm/xmm

// Lanes: the kernels with K right-hand sides keep entry i of all of them
// side by side, Kp doubles at x + i Kp (Kp = K rounded up to whole vectors,
// the padding zero), so that one load fetches entry i of every right-hand
// side. The callers' matrices hold the right-hand sides as rows (K x D).

/// x[i Kp + k] = Xt(k0 + k, i) for k < kc, 0 for kc <= k < Kp.
inline void to_lanes(const Matrix& Xt, Index k0, Index kc, Index Kp, double* x) {
  for (Index i = 0; i < Xt.cols(); ++i) {
    for (Index k = 0; k < kc; ++k) x[i * Kp + k] = Xt(k0 + k, i);
    for (Index k = kc; k < Kp; ++k) x[i * Kp + k] = 0.0;
  }
}

/// Calls chunk(std::integral_constant<int, V>{}, k0, kc) for the K right-hand
/// sides in passes of at most MaxV vectors of lanes (kc <= V W of them from
/// row k0; V is a compile-time constant, so that a kernel's accumulators
/// stay in registers). MaxV is at most 4.
template <int MaxV, class Chunk>
void for_lane_chunks(Index K, Chunk&& chunk) {
  static_assert(MaxV >= 1 && MaxV <= 4, "one to four vectors of lanes per pass");
  for (Index k0 = 0; k0 < K; k0 += MaxV * W) {
    const Index kc = std::min<Index>(K - k0, MaxV * W);
    switch ((kc + W - 1) / W) {
      case 1: chunk(std::integral_constant<int, 1>{}, k0, kc); break;
      case 2: if constexpr (MaxV >= 2) chunk(std::integral_constant<int, 2>{}, k0, kc); break;
      case 3: if constexpr (MaxV >= 3) chunk(std::integral_constant<int, 3>{}, k0, kc); break;
      default: if constexpr (MaxV >= 4) chunk(std::integral_constant<int, 4>{}, k0, kc); break;
    }
  }
}

/// Yt(k0 + k, i) = y[i Kp + k] for k < kc.
inline void from_lanes(const double* y, Index Kp, Index k0, Index kc, Matrix& Yt) {
  for (Index i = 0; i < Yt.cols(); ++i)
    for (Index k = 0; k < kc; ++k) Yt(k0 + k, i) = y[i * Kp + k];
}

}  // namespace flowsense::simd
