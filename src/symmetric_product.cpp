#include "flowsense/core/symmetric_product.hpp"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "flowsense/core/worker_pool.hpp"

namespace flowsense {

namespace {

constexpr Index block = 64;  // columns per task; fixed, so results do not depend on threads

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
inline vec broadcast(double a) {
  vec v;
  for (int k = 0; k < W; ++k) v[k] = a;
  return v;
}
inline double sum(vec a) {
  double s = 0;
  for (int k = 0; k < W; ++k) s += a[k];
  return s;
}

constexpr Index group = 8;  // columns that share each load and store of x and y

/// Columns j .. j+n-1 (n <= group) of the lower triangle of Q (leading
/// dimension ld, D rows): w[i - r0] += Q(i, j+k) x[j+k] for i >= j+k, and
/// t[j+k] = sum_{i > j+k} Q(i, j+k) x[i].
void column_group(const double* Q, Index ld, Index D, Index j, Index n, const double* x, double* w, Index r0,
                  double* t) {
  double dot[group] = {};
  // The n x n triangle on the diagonal.
  for (Index k = 0; k < n; ++k) {
    const double* c = Q + (j + k) * ld;
    w[j + k - r0] += c[j + k] * x[j + k];
    for (Index i = j + k + 1; i < j + n; ++i) {
      w[i - r0] += c[i] * x[j + k];
      dot[k] += c[i] * x[i];
    }
  }
  Index i = j + n;
  if (n == group) {
    // Per W rows: 8 loads of Q, one of x, one load and store of w, 16 FMAs
    // (8 into w, one per column into its dot accumulator; the 8 accumulators
    // are independent chains, so FMA latency does not bound the loop).
    const double* c[group];
    vec xj[group], acc[group];
    for (Index k = 0; k < group; ++k) {
      c[k] = Q + (j + k) * ld;
      xj[k] = broadcast(x[j + k]);
      acc[k] = broadcast(0.0);
    }
    for (; i + W <= D; i += W) {
      const vec xi = load(x + i);
      vec p[group];
      for (Index k = 0; k < group; ++k) p[k] = load(c[k] + i);
      vec wi = load(w + i - r0);
      for (Index k = 0; k < group; ++k) wi += p[k] * xj[k];
      store(w + i - r0, wi);
      for (Index k = 0; k < group; ++k) acc[k] += p[k] * xi;
    }
    for (Index k = 0; k < group; ++k) dot[k] += sum(acc[k]);
  }
  for (; i < D; ++i) {
    double wi = w[i - r0];
    for (Index k = 0; k < n; ++k) {
      const double q = Q[(j + k) * ld + i];
      wi += q * x[j + k];
      dot[k] += q * x[i];
    }
    w[i - r0] = wi;
  }
  for (Index k = 0; k < n; ++k) t[j + k] = dot[k];
}

}  // namespace

void symmetric_product(const Matrix& Q, const Vector& x, Vector& y, WorkerPool* pool) {
  const Index D = Q.rows();
  if (Q.cols() != D)
    throw std::invalid_argument("symmetric_product(): expected a square Q, got " + std::to_string(Q.rows()) +
                                " x " + std::to_string(Q.cols()));
  if (x.size() != D)
    throw std::invalid_argument("symmetric_product(): expected x of length " + std::to_string(D) + ", got " +
                                std::to_string(x.size()));
  y.resize(D);
  if (D == 0) return;
  const Index blocks = (D + block - 1) / block;
  // Workspace: t (D) then w_J (rows J*block .. D-1) for every block; kept
  // per calling thread so that the hot loop does not allocate.
  thread_local std::vector<double> workspace;
  const Index size = D + blocks * D - block * blocks * (blocks - 1) / 2;
  if (static_cast<Index>(workspace.size()) < size) workspace.resize(static_cast<std::size_t>(size));
  double* t = workspace.data();
  double* w = t + D;
  auto offset = [&](Index J) { return J * D - block * J * (J - 1) / 2; };  // of w_J in w
  const double* q = Q.data();
  const Index ld = Q.outerStride();
  const double* xs = x.data();
  auto task = [&](Index J) {
    const Index r0 = J * block, hi = std::min(D, r0 + block);
    double* wJ = w + offset(J);
    std::memset(wJ, 0, sizeof(double) * static_cast<std::size_t>(D - r0));
    for (Index j = r0; j < hi; j += group) column_group(q, ld, D, j, std::min<Index>(group, hi - j), xs, wJ, r0, t);
  };
  if (!pool || !pool->try_run(blocks, task))
    for (Index J = 0; J < blocks; ++J) task(J);
  y = Eigen::Map<const Vector>(t, D);
  for (Index J = 0; J < blocks; ++J)
    y.tail(D - J * block) += Eigen::Map<const Vector>(w + offset(J), D - J * block);
}

}  // namespace flowsense
