#pragma once
// Full observation: A = the identity on symmetric matrices, in packed
// coordinates (m = D = d(d+1)/2, A(X) = vech(X), A*(y) = unvech(y)), so that
// ||A(X)||^2 = ||X||_F^2. With c = 1/2 the factor flow is U' = (Z - UU^T) U,
// whose closed form (DESIGN.md) is the oracle for every integrator.
#include "flowsense/problem/sensing_operator.hpp"

namespace flowsense {

class FullObservation : public SensingOperator {
public:
  explicit FullObservation(Index d);

  Index dim() const override { return d_; }
  Index measurements() const override { return d_ * (d_ + 1) / 2; }
  std::string name() const override { return "full"; }

  void apply(const Matrix& X, Vector& y) const override;
  void adjoint(const Vector& y, Matrix& S) const override;
  /// A*(y) U without packing: y is unpacked once, then one product.
  void adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const override;
  // gram_jacobian(): the default (d p applications of O(d^2) each) is
  // already proportional to the size of its D x d p output.

private:
  Index d_;
};

}  // namespace flowsense
