#pragma once
// The sensing operator A : Sym(d) -> R^m, A(X)_i = s <A_i, X>, and its
// adjoint A*(y) = s sum_i y_i A_i (DESIGN.md, "The mathematics").
//
// To write your own operator, derive from SensingOperator and implement
// exactly dim(), measurements(), apply(), adjoint() and name(). Operators with
// structure (rank-one projections, entry sampling) also override the factor
// forms apply_gram() and adjoint_times(), which the flows call on the hot path
// and which by default form the d x d matrices, and gram_jacobian(), which
// the stiff steppers' dense Jacobian uses and which by default costs d p
// applications. One virtual call per right-hand side costs nanoseconds
// against the O(m d^2) work behind it.
//
// Operators are immutable after construction and safe to share between
// threads (every method is const and uses no shared scratch).
#include <string>

#include "flowsense/core/types.hpp"

namespace flowsense {

class SensingOperator {
public:
  virtual ~SensingOperator() = default;

  /// d: the side of the sensed matrices.
  virtual Index dim() const = 0;
  /// m: the number of measurements.
  virtual Index measurements() const = 0;
  /// A short name for manifests and messages ("gaussian", "full").
  virtual std::string name() const = 0;

  /// y = A(X) for a symmetric d x d matrix X (only its upper triangle is read).
  virtual void apply(const Matrix& X, Vector& y) const = 0;
  /// S = A*(y), a symmetric d x d matrix.
  virtual void adjoint(const Vector& y, Matrix& S) const = 0;

  /// y = A(U U^T) for a d x p factor U.
  virtual void apply_gram(const Matrix& U, Vector& y) const;
  /// out = A*(y) U for a d x p factor U: the gradient direction of the flow.
  virtual void adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const;

  /// Jr = the m x (d p) Jacobian of U -> A(U U^T) at a d x p factor U (the
  /// residual's Jacobian, 2 Dg(U) of paper 000 (10)), with vec column-major
  /// (Eigen's Map of a d x p matrix):
  ///   Jr vec(V) = A(U V^T + V U^T),   Jr^T y = 2 vec(A*(y) U),
  /// so row i is 2 s vec(A_i U). The factor flow's dense Jacobian is
  /// -c Jr^T Jr - 2c (I_p kron A*(r)) (flow/factor_flow.hpp).
  /// Default: d p forward applications A(U E_k^T + E_k U^T), i.e. d p times
  /// the cost of apply(). Overrides: packed operators O(m d^2 p) (read off
  /// the packed matrix in place), rank-one projections O(m d p),
  /// entry sampling O(m p) plus zeroing the m x d p output.
  virtual void gram_jacobian(const Matrix& U, Matrix& Jr) const;

  /// Convenience forms that allocate.
  Vector operator()(const Matrix& X) const {
    Vector y;
    apply(X, y);
    return y;
  }
  Matrix adjoint(const Vector& y) const {
    Matrix S;
    adjoint(y, S);
    return S;
  }
};

}  // namespace flowsense
