#pragma once
// Shared vocabulary types. Every stage of flowsense speaks dense Eigen.
#include <Eigen/Dense>

namespace flowsense {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;
using Index = Eigen::Index;

}  // namespace flowsense
