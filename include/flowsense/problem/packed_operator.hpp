#pragma once
// A sensing operator stored as one m x D matrix on packed coordinates
// (core/packed.hpp, D = d(d+1)/2): row i is s vech(A_i), so
//   A(X)  = M vech(X)          (one matrix-vector product),
//   A*(y) = unvech(M^T y)      (one more; both on fixed column blocks of M,
//                               core/block_gemv.hpp, optionally threaded),
// and <vech(X), vech(Y)> = <X, Y>_F makes the transpose the adjoint.
// The common base of every operator whose A_i are dense: the Gaussian
// ensemble (gaussian_operator.hpp) and user-supplied matrices
// (matrix_operator.hpp). Code that wants the matrix itself (the normal
// operator Q = M^T M, operator norms) can ask for packed_rows() of any of
// them through this one type.
//
// Memory: 8 m D bytes (m = 4pd, p = 5 gives 80 d^3 bytes: 640 MB at d = 200),
// which is why structured operators (rank_one_operator.hpp,
// entry_sampling_operator.hpp) do not derive from this class.
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

class WorkerPool;

class PackedOperator : public SensingOperator {
public:
  Index dim() const override { return d_; }
  Index measurements() const override { return rows_.rows(); }

  /// final: the loss calls the pool overloads below directly (its plain
  /// form, also on threads), so an override in a derived class would be
  /// bypassed there; an operator with other products derives from
  /// SensingOperator instead.
  void apply(const Matrix& X, Vector& y) const final;
  void adjoint(const Vector& y, Matrix& S) const final;
  using SensingOperator::adjoint;  // keep the allocating adjoint(y)
  /// apply() and adjoint() with the two products on a worker pool (the
  /// loss' plain form with `threads` > 1 where it keeps no measurement-major
  /// copy of M, loss/operator_form.hpp): M is cut into fixed column blocks
  /// (core/block_gemv.hpp), so these return the same bits as the overloads
  /// without a pool, for any pool size. `pool` may be null or busy.
  void apply(const Matrix& X, Vector& y, WorkerPool* pool) const;
  void adjoint(const Vector& y, Matrix& S, WorkerPool* pool) const;
  /// Jr (m x d p, see SensingOperator) with row i = 2 vec(s A_i U), read
  /// off M in place (no unpacking): 2 m d^2 p flops, M streamed once (in
  /// 128-row blocks), no scratch.
  void gram_jacobian(const Matrix& U, Matrix& Jr) const override;

  /// The m x D matrix whose i-th row is s vech(A_i).
  const Matrix& packed_rows() const { return rows_; }
  /// The scale s in A(X)_i = s <A_i, X>.
  double scale_factor() const { return scale_; }
  /// The i-th sensing matrix A_i (unscaled, d x d), for references and tests.
  Matrix sensing_matrix(Index i) const;

protected:
  /// `rows` are already scaled by `scale`. Throws std::invalid_argument
  /// (prefixed by `who`) if rows.cols() != D(d) or scale is not positive.
  /// An rvalue reference, so that a derived class may compute the scale from
  /// the rows in the same initializer before they are moved from.
  PackedOperator(const char* who, Index d, Matrix&& rows, double scale);

private:
  Index d_;
  double scale_;
  Matrix rows_;
};

}  // namespace flowsense
