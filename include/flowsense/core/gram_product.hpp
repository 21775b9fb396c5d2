#pragma once
// G = M^T (M X - b 1^T) for K right-hand sides in one pass over M: the
// plain form of the batched flows (flow/batch_flow.hpp), where M is a packed
// operator's m x D matrix and the columns of X are K members' vech(U_k U_k^T).
//
// Why not two Eigen GEMMs. With K ~ 8 columns, Eigen's GEMM copies M into
// panels on every call (at d = 200, m = 1600, M is 257 MB) and ran at 15-25
// GFLOP/s where the FMAs alone would allow several times that. Here each of
// the two products streams M once, column after column (sequential reads,
// groups of NR columns side by side): first R = M X - b 1^T (K x m, in L2),
// then G = M^T R. Each entry of M that is loaded is used in K FMAs (a
// vector of the K right-hand sides per load, the lanes of src/simd_lanes.hpp),
// so the product is bound by the bytes of M (16 m D per right-hand side of
// the batch, read once per K members) rather than by copies. A fused variant
// that walked M in blocks of rows (reading each block once from memory and
// once from the cache) measured slower: its strided reads of short column
// pieces cost more than the second pass saves.
//
// Threads: with a WorkerPool (core/worker_pool.hpp), the first product is
// cut into fixed blocks of rows of R and the second into fixed blocks of
// columns of G; every entry is summed by one task in the same order as on
// one thread, so results are bitwise the same for any thread count. They
// differ from M^T (M x - b) by Eigen in the last bits (another summation order).
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// Gt = (M^T (M X - b 1^T))^T with X = Xt^T: Xt is K x D (row k = the k-th
/// right-hand side), Gt becomes K x D. b may be null (then G = M^T M X).
/// Throws std::invalid_argument if Xt does not have D = M.cols() columns or b
/// does not have M.rows() entries. Gt must not alias Xt. `pool` may be null
/// (the calling thread alone) or busy (then too).
void gram_product_rows(const Matrix& M, const Vector* b, const Matrix& Xt, Matrix& Gt, WorkerPool* pool = nullptr);

}  // namespace flowsense
