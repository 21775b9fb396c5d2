#pragma once
// The linear algebra of the implicit steppers (rosenbrock.hpp, bdf.hpp): both
// solve (I - s W) u = r, W a Jacobian frozen at some state and s = gamma h
// (Rosenbrock) or c h (BDF), either with a dense W (the system's closed form
// or assembled from Jacobian-vector products) LU-factored, or matrix-free
// with GMRES.
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include <Eigen/LU>

#include "flowsense/core/types.hpp"
#include "flowsense/integrate/detail/gmres.hpp"
#include "flowsense/integrate/detail/jacobian.hpp"
#include "flowsense/integrate/stepper.hpp"

namespace flowsense::detail {

/// True when a state with n entries gets a dense Jacobian (dense_jacobian()
/// below, LU-factored) rather than GMRES: n <= stiff.dense_max_size.
inline bool uses_dense_jacobian(Index n, const StiffOptions& stiff) { return n <= stiff.dense_max_size; }

/// J(x) column by column: n products jac(e_k) for a state with n entries.
template <class Jacobian>
void assemble_jacobian(const Jacobian& jac, const Matrix& x, Matrix& J) {
  const Index n = x.size();
  J.resize(n, n);
  Matrix E = Matrix::Zero(x.rows(), x.cols()), col;
  for (Index k = 0; k < n; ++k) {
    E(k) = 1.0;
    jac(E, col);
    J.col(k) = Eigen::Map<const Vector>(col.data(), n);
    E(k) = 0.0;
  }
}

/// The dense J(x) of the implicit steppers' dense path: the system's
/// dense_jacobian() if it has one (FactorFlow: the cost of 6-7 right-hand
/// sides at Example 1.1's reduced state, where n = 60 products cost ~120),
/// else n Jacobian-vector
/// products in the preference order of jacobian.hpp, counted in
/// *jvp_counter. Counts stats->jacobians, and stats->analytic_jacobians for
/// the closed form, which computes no products and so adds nothing to
/// *jvp_counter (docs/steppers.md, "How the dense Jacobian is obtained").
template <class System>
void dense_jacobian(System& system, const Matrix& x, Matrix& J, std::uint64_t* jvp_counter,
                    StiffStats* stats) {
  if constexpr (has_dense_jacobian<System>()) {
    system.dense_jacobian(x, J);
    if (stats) ++stats->analytic_jacobians;
  } else {
    assemble_jacobian(FrozenJacobian<System>(system, x, jvp_counter), x, J);
  }
  if (stats) ++stats->jacobians;
}

/// u = lu^-1 r with lu the factored I - s J; false (reason set) if the
/// result is not finite, i.e. the matrix is singular at this step.
inline bool solve_dense_shifted(const Eigen::PartialPivLU<Matrix>& lu, const Matrix& r, Matrix& u,
                                const std::string& matrix_name, std::string& reason) {
  Vector sol = lu.solve(Eigen::Map<const Vector>(r.data(), r.size()));
  if (!sol.allFinite()) {
    reason = "the dense " + matrix_name + " is singular at this step";
    return false;
  }
  u = Eigen::Map<const Matrix>(sol.data(), r.rows(), r.cols());
  return true;
}

/// (I - s W) u = r by GMRES with W applied by jac(V, out), in the variables
/// z = u / w with w the error weights (atol + rtol |x|): the residual is then
/// measured in the units of the error test and GMRES stops when it is below
/// stiff.krylov_tolerance. Returns false (reason set, stats->krylov_failures
/// counted) if it does not get there within stiff.krylov_max_iterations;
/// *iterations gets the iterations spent either way.
template <class Jacobian>
bool solve_krylov_shifted(const Jacobian& jac, const Matrix& w, double s, const Matrix& r, Matrix& u,
                          const StiffOptions& stiff, StiffStats* stats, std::string& reason,
                          int* iterations = nullptr) {
  auto op = [&](const Matrix& z, Matrix& out) {
    const Matrix v = z.cwiseProduct(w);
    Matrix jv;
    jac(v, jv);
    out = (v - s * jv).cwiseQuotient(w);
  };
  const Matrix b = r.cwiseQuotient(w);
  Matrix z = Matrix::Zero(r.rows(), r.cols());
  const auto res = gmres(op, b, z, stiff.krylov_tolerance, stiff.krylov_restart, stiff.krylov_max_iterations);
  if (stats) stats->krylov_iterations += static_cast<std::uint64_t>(res.iterations);
  if (iterations) *iterations = res.iterations;
  if (!res.converged || !z.allFinite()) {
    if (stats) ++stats->krylov_failures;
    std::ostringstream m;
    m << "GMRES did not reach the weighted residual " << stiff.krylov_tolerance << " in " << res.iterations
      << " iterations (residual " << res.residual << ")";
    reason = m.str();
    return false;
  }
  u = z.cwiseProduct(w);
  return true;
}

}  // namespace flowsense::detail
