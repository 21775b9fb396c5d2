#pragma once
// Q = M^T M for the normal operator (problem/normal_operator.hpp), in three
// fixed tasks so that it can be built on two threads.
//
// Why not one syrk. Eigen's symmetric rank update (Q.selfadjointView().
// rankUpdate(M^T)) runs on the calling thread only, and the build is a
// large part of a short run in the normal form: at paper 003's size
// (m = 5000, D = 1275) 8.1 Gflop, ~130 ms on one core, against ~0.2 s for
// the whole flow on two. Split at s = D / 2, M = [M1 M2]:
//
//   Q = [ M1^T M1      .    ]    task 0: the GEMM M2^T M1 (half the flops),
//       [ M2^T M1   M2^T M2 ]    tasks 1, 2: the syrks of the two triangles.
//
// Task 0 is claimed first (core/worker_pool.hpp), so two threads share the
// flops evenly; one thread runs the three in order. Why not more, smaller
// blocks: Eigen's GEMM packs its larger operand anew for every block, and
// with blocks of 64 or 128 columns at paper 003's size that packing made
// one thread 3-30% slower than the single syrk (and two threads barely
// faster than these three tasks), measured. Each task is the same Eigen
// call whatever the thread count, so Q is bitwise the same for 1, 2, ...
// threads (not the same bits as one syrk over all of M). The strictly
// upper triangle is then mirrored from the lower one.
#include "flowsense/core/types.hpp"

namespace flowsense {

class WorkerPool;

/// Below this many flops (m D (D + 1)) the build runs on the caller even
/// with a pool (the same bits either way).
inline constexpr double gram_matrix_threaded_flops = 2e8;

/// Q = M^T M (D x D, both triangles). `pool` may be null (the calling
/// thread alone) or busy (then too); threads beyond two do not help.
void gram_matrix(const Matrix& M, Matrix& Q, WorkerPool* pool = nullptr);

}  // namespace flowsense
