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
// register; Zen 5 and Intel cores execute 512-bit FMAs at full width), else
// four (one AVX register, or two SSE2 registers without -march flags). GCC
// contracts a*b + c to an FMA where the target has one.
#if defined(__AVX512F__)
constexpr int W = 8;
#else
constexpr int W = 4;
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

/// Columns j .. j+n-1 (n <= 4) of the lower triangle of Q (leading dimension
/// ld, D rows): w[i - r0] += Q(i, j+k) x[j+k] for i >= j+k, and
/// t[j+k] = sum_{i > j+k} Q(i, j+k) x[i].
void column_group(const double* Q, Index ld, Index D, Index j, Index n, const double* x, double* w, Index r0,
                  double* t) {
  double dot[4] = {0, 0, 0, 0};
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
  if (n == 4) {
    const double *c0 = Q + j * ld, *c1 = c0 + ld, *c2 = c1 + ld, *c3 = c2 + ld;
    const vec x0 = broadcast(x[j]), x1 = broadcast(x[j + 1]), x2 = broadcast(x[j + 2]), x3 = broadcast(x[j + 3]);
    const vec zero = broadcast(0.0);
    vec a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero;
    // 2W rows per pass with two sets of dot accumulators, so that the FMA
    // latency of the dot products does not bound the loop.
    for (; i + 2 * W <= D; i += 2 * W) {
      const vec p0 = load(c0 + i), p1 = load(c1 + i), p2 = load(c2 + i), p3 = load(c3 + i);
      const vec q0 = load(c0 + i + W), q1 = load(c1 + i + W), q2 = load(c2 + i + W), q3 = load(c3 + i + W);
      const vec xa = load(x + i), xb = load(x + i + W);
      vec wa = load(w + i - r0), wb = load(w + i + W - r0);
      wa += p0 * x0;
      wa += p1 * x1;
      wa += p2 * x2;
      wa += p3 * x3;
      wb += q0 * x0;
      wb += q1 * x1;
      wb += q2 * x2;
      wb += q3 * x3;
      store(w + i - r0, wa);
      store(w + i + W - r0, wb);
      a0 += p0 * xa;
      a1 += p1 * xa;
      a2 += p2 * xa;
      a3 += p3 * xa;
      b0 += q0 * xb;
      b1 += q1 * xb;
      b2 += q2 * xb;
      b3 += q3 * xb;
    }
    dot[0] += sum(a0 + b0);
    dot[1] += sum(a1 + b1);
    dot[2] += sum(a2 + b2);
    dot[3] += sum(a3 + b3);
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
    for (Index j = r0; j < hi; j += 4) column_group(q, ld, D, j, std::min<Index>(4, hi - j), xs, wJ, r0, t);
  };
  if (!pool || !pool->try_run(blocks, task))
    for (Index J = 0; J < blocks; ++J) task(J);
  y = Eigen::Map<const Vector>(t, D);
  for (Index J = 0; J < blocks; ++J)
    y.tail(D - J * block) += Eigen::Map<const Vector>(w + offset(J), D - J * block);
}

}  // namespace flowsense
