#pragma once
// y = Q x for a symmetric D x D matrix of which only the lower triangle is
// read: the kernel of the normal operator (problem/normal_operator.hpp).
//
// Why not Eigen. A GEMV on the full Q streams D^2 doubles; Q of paper 003's
// size (D = 1275, 13 MB) sits in the last-level cache, where the product is
// bound by the bytes it reads. Reading one triangle and using each entry
// twice, once for its row (an AXPY into y below the diagonal) and once for
// its column (a dot product with x), halves the bytes. Eigen's
// selfadjointView product does the same but one column at a time, so every
// entry of y is loaded and stored once per column; here eight columns share
// each load and store of y and x.
//
// Repeatable for any thread count. The columns are cut into fixed blocks of
// 64 (independent of the thread count); block J writes the dot products of
// its own columns into y's rows J and its AXPY contributions into a private
// buffer w_J, and y is t + w_0 + w_1 + ... summed in this order. Each block
// is a task of a WorkerPool (core/worker_pool.hpp), so the result is the
// same bits whether one thread or several ran the blocks. It differs from
// Eigen's Q * x in the last bits (another summation order).
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// y = Q x, reading only the lower triangle of Q (column-major, any
/// leading dimension). `pool` may be null (the calling thread alone) or busy
/// (then too). Throws std::invalid_argument if Q is not square or x has the
/// wrong length. y must not alias x.
void symmetric_product(const Matrix& Q, const Vector& x, Vector& y, WorkerPool* pool = nullptr);

/// Y = Q X for K right-hand sides at once, stored as rows: Xt is K x D (its
/// column i holds entry i of every right-hand side, contiguous), Yt becomes
/// K x D. The batched flows' product (flow/batch_flow.hpp).
///
/// Same scheme as the single product (lower triangle only, fixed blocks,
/// bitwise the same for every thread count), with a vector of right-hand
/// sides in place of each scalar: entry Q(i, j) is loaded once and used in
/// 2K FMAs, so at K ~ 8 the product is bound by flops, not bytes: ~100
/// GFLOP/s at D = 1275, K = 8 with AVX-512 (Eigen's square DGEMM: 60-70;
/// its GEMM on this shape, which copies Q into panels on every call, ~22;
/// its selfadjointView product, one column at a time, 30-40).
/// Groups of columns share each load and store of a row of X and Y; the K
/// lanes are padded to whole SIMD vectors. Throws std::invalid_argument if Q
/// is not square or Xt does not have D columns. Yt must not alias Xt.
void symmetric_product_rows(const Matrix& Q, const Matrix& Xt, Matrix& Yt, WorkerPool* pool = nullptr);

}  // namespace flowsense
