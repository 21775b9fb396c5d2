#pragma once
// Y = Q X for a symmetric D x D matrix Q of which only the lower triangle is
// read, and K right-hand sides at once: the batched flows' product
// (flow/batch_flow.hpp, through NormalOperator::apply_rows). The product
// with one right-hand side has its own layout (core/symmetric_panels.hpp).
//
// Each entry of the triangle is loaded once and used twice for every
// right-hand side, once for its row (an AXPY into Y below the diagonal) and
// once for its column (a dot product with X): half the bytes of a GEMM on the
// full Q, and 2K FMAs per entry loaded, so at K ~ 8 the product is bound by
// flops, not bytes.
//
// Repeatable for any thread count. The columns are cut into fixed blocks
// (independent of the thread count); block J writes the dot products of its
// own columns into Y's rows J and its AXPY contributions into a private
// buffer w_J, and Y is t + w_0 + w_1 + ... summed in this order. Each block
// is a task of a WorkerPool (core/worker_pool.hpp), so the result is the
// same bits whether one thread or several ran the blocks. It differs from
// Eigen's Q * X in the last bits (another summation order).
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// Y = Q X for K right-hand sides at once, stored as rows: Xt is K x D (its
/// column i holds entry i of every right-hand side, contiguous), Yt becomes
/// K x D. The batched flows' product (flow/batch_flow.hpp).
///
/// Entry Q(i, j) is loaded once and used in 2K FMAs: ~100
/// GFLOP/s at D = 1275, K = 8 with AVX-512 (Eigen's square DGEMM: 60-70;
/// its GEMM on this shape, which copies Q into panels on every call, ~22;
/// its selfadjointView product, one column at a time, 30-40).
/// Groups of columns share each load and store of a row of X and Y; the K
/// lanes are padded to whole SIMD vectors. Throws std::invalid_argument if Q
/// is not square or Xt does not have D columns. Yt must not alias Xt.
void symmetric_product_rows(const Matrix& Q, const Matrix& Xt, Matrix& Yt, WorkerPool* pool = nullptr);

}  // namespace flowsense
