#pragma once
// odeint glue for Eigen 3.4 dense matrices as states.
//
// Eigen 3.4 gave matrices begin()/end(), so odeint's generic copy treats them
// as ranges and controlled / dense-output steppers stop compiling (Boost 1.74,
// util/copy.hpp). Plain assignment is the right copy for a dense matrix; this
// specialization restores every stepper (tests/test_odeint_eigen.cpp).
#include <Eigen/Dense>
#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

namespace boost::numeric::odeint {

template <class S, int R, int C, int O, int MR, int MC>
struct copy_impl<Eigen::Matrix<S, R, C, O, MR, MC>, Eigen::Matrix<S, R, C, O, MR, MC>> {
  static void copy(const Eigen::Matrix<S, R, C, O, MR, MC>& from,
                   Eigen::Matrix<S, R, C, O, MR, MC>& to) {
    to = from;
  }
};

}  // namespace boost::numeric::odeint
