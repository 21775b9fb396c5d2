#pragma once
// Q = M^T M for the normal operator (problem/normal_operator.hpp): a
// cache-blocked kernel of our own (src/gram_matrix.cpp), on the pool's
// threads, bitwise the same for every thread count.
//
// Why not Eigen. At paper 003's size (m = 5000, D = 1275; 8.1 Gflop) the
// build is a large part of a short run in the normal form, and Eigen's
// GEMM/syrk reached ~62 GFLOP/s per core there (about half of the FMA
// peak of an AVX-512 core; Debian's OpenBLAS was slower still). The kernel
// computes only the tiles on and below the diagonal, 3W x W entries each
// in registers (24 x 8 with AVX-512), from k-blocks of 256 rows of M packed
// into panels of W columns so that its loads stream contiguous memory.
// Measured on random matrices, alternating with the Eigen version in one
// process (medians of 9, load ~2.4 of 2 cores): 5000 x 1275 in 87 ms
// instead of 129 on one thread, 45 instead of 75 on two; 5000 x 465 12.7
// instead of 18.7 ms; 240 x 465 0.62 instead of 0.83 ms.
//
// Threads: each k-block is one run of fixed tasks (row blocks of Q, and
// the packing of the next k-block), so every entry of Q sums its k-blocks
// in the same order whatever thread runs a task. The strictly upper
// triangle is mirrored from the lower one, so Q is exactly symmetric.
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// Below this many flops (m D (D + 1)) the build runs on the caller even
/// with a pool (the same bits either way).
inline constexpr double gram_matrix_threaded_flops = 2e8;

/// Q = M^T M (D x D, both triangles). `pool` may be null (the calling
/// thread alone) or busy (then too).
void gram_matrix(const Matrix& M, Matrix& Q, WorkerPool* pool = nullptr);

}  // namespace flowsense
