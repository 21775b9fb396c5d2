#include "flowsense/analysis/symmetric_eigs.hpp"

#include <Spectra/SymEigsSolver.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "flowsense/core/random.hpp"

namespace flowsense {

namespace {

/// Spectra's operator concept around a SymmetricOperator; counts applications.
class SpectraOp {
public:
  using Scalar = double;
  SpectraOp(const SymmetricOperator& op, Index n) : op_(op), n_(n), x_(n), y_(n) {}
  Index rows() const { return n_; }
  Index cols() const { return n_; }
  void perform_op(const double* x_in, double* y_out) const {
    x_ = Eigen::Map<const Vector>(x_in, n_);
    op_(x_, y_);
    Eigen::Map<Vector>(y_out, n_) = y_;
    ++applications_;
  }
  Index applications() const { return applications_; }

private:
  const SymmetricOperator& op_;
  Index n_;
  mutable Vector x_, y_;
  mutable Index applications_ = 0;
};

EigenResult dense_eigs(const SymmetricOperator& op, Index n, Index nev, EigenEnd end) {
  EigenResult result;
  result.method = "dense";
  const Matrix S = dense_matrix_of(op, n);
  result.applications = n;
  Eigen::SelfAdjointEigenSolver<Matrix> eig(S);
  if (eig.info() != Eigen::Success) {
    result.message = "dense eigensolver did not converge";
    return result;
  }
  result.values.resize(nev);
  result.vectors.resize(n, nev);
  for (Index k = 0; k < nev; ++k) {
    const Index j = end == EigenEnd::smallest ? k : n - 1 - k;  // ascending storage
    result.values[k] = eig.eigenvalues()[j];
    result.vectors.col(k) = eig.eigenvectors().col(j);
  }
  result.converged = true;
  return result;
}

EigenResult lanczos_largest(const SymmetricOperator& op, Index n, Index nev, const EigenOptions& options);

/// The smallest eigenpairs as the largest of sigma I - S, sigma >= lambda_max(S).
/// The Krylov spaces are the same as for SmallestAlge, but Spectra's stopping
/// rule (residual <= tol * max(eps^(2/3), |ritz value|)) then measures the
/// residual against sigma ~ ||S||, the scale at which eigenvalues near zero
/// are determined at all; with SmallestAlge a zero eigenvalue would have to
/// converge to an absolute 1e-23 and never would.
EigenResult lanczos_smallest(const SymmetricOperator& op, Index n, Index nev, const EigenOptions& options) {
  EigenOptions rough = options;
  rough.tol = std::max(options.tol, 1e-6);
  EigenResult top = lanczos_largest(op, n, 1, rough);
  if (top.values.size() == 0) {
    top.message = "could not bound the spectrum from above: " + top.message;
    top.converged = false;
    return top;
  }
  const double lmax = top.values[0];
  const double sigma = lmax + 1e-3 * std::abs(lmax) + 1e-300;
  const SymmetricOperator shifted = [&](const Vector& x, Vector& y) {
    op(x, y);
    y = sigma * x - y;
  };
  EigenResult r = lanczos_largest(shifted, n, nev, options);
  r.applications += top.applications;
  r.values = (sigma - r.values.array()).matrix();  // ascending
  return r;
}

EigenResult lanczos_eigs(const SymmetricOperator& op, Index n, Index nev, EigenEnd end,
                         const EigenOptions& options) {
  if (end == EigenEnd::smallest) return lanczos_smallest(op, n, nev, options);
  return lanczos_largest(op, n, nev, options);
}

EigenResult lanczos_largest(const SymmetricOperator& op, Index n, Index nev, const EigenOptions& options) {
  const EigenEnd end = EigenEnd::largest;
  EigenResult result;
  result.method = "lanczos";
  Index ncv = options.ncv > 0 ? options.ncv : std::max<Index>(2 * nev + 1, 30);
  ncv = std::min(ncv, n);
  if (ncv <= nev) {
    // Spectra needs nev < ncv <= n; such tiny problems are dense anyway.
    return dense_eigs(op, n, nev, end);
  }
  SpectraOp sop(op, n);
  Spectra::SymEigsSolver<SpectraOp> solver(sop, nev, ncv);
  Rng rng(options.seed);
  Vector start(n);
  for (Index i = 0; i < n; ++i) start[i] = rng.uniform() - 0.5;
  solver.init(start.data());
  const auto rule = Spectra::SortRule::LargestAlge;
  solver.compute(rule, options.max_restarts, options.tol, rule);
  result.applications = sop.applications();
  if (solver.info() != Spectra::CompInfo::Successful) {
    std::ostringstream s;
    s << "Spectra SymEigsSolver did not converge (n = " << n << ", nev = " << nev
      << ", ncv = " << ncv << ", " << solver.num_iterations() << " restarts, tol = "
      << options.tol << ")";
    result.message = s.str();
    // Still hand back what there is: the Ritz values are inner estimates.
  } else {
    result.converged = true;
  }
  result.values = solver.eigenvalues();
  result.vectors = solver.eigenvectors();
  if (result.values.size() < nev && result.converged) {
    result.converged = false;
    result.message = "Spectra returned fewer converged eigenvalues than requested";
  }
  return result;
}

}  // namespace

std::string EigenOptions::validate() const {
  std::ostringstream s;
  if (!(tol > 0)) s << "tol must be > 0, got " << tol;
  else if (max_restarts < 1) s << "max_restarts must be >= 1, got " << max_restarts;
  else if (dense_limit < 0) s << "dense_limit must be >= 0, got " << dense_limit;
  else if (ncv < 0) s << "ncv must be >= 0, got " << ncv;
  return s.str();
}

Matrix dense_matrix_of(const SymmetricOperator& op, Index n) {
  Matrix S(n, n);
  Vector e = Vector::Zero(n), y;
  for (Index j = 0; j < n; ++j) {
    e[j] = 1.0;
    op(e, y);
    if (y.size() != n)
      throw std::invalid_argument("dense_matrix_of(): the operator returned a vector of length " +
                                  std::to_string(y.size()) + ", expected n = " + std::to_string(n));
    S.col(j) = y;
    e[j] = 0.0;
  }
  Matrix sym = 0.5 * (S + S.transpose());
  return sym;
}

EigenResult extreme_eigenpairs(const SymmetricOperator& op, Index n, Index nev, EigenEnd end,
                               const EigenOptions& options) {
  if (auto problem = options.validate(); !problem.empty())
    throw std::invalid_argument("extreme_eigenpairs(): " + problem);
  if (n < 1) throw std::invalid_argument("extreme_eigenpairs(): expected n >= 1, got " + std::to_string(n));
  if (nev < 1 || nev > n)
    throw std::invalid_argument("extreme_eigenpairs(): expected 1 <= nev <= n = " + std::to_string(n) +
                                ", got nev = " + std::to_string(nev));
  const bool dense = options.method == EigenMethod::dense ||
                     (options.method == EigenMethod::automatic && n <= options.dense_limit);
  return dense ? dense_eigs(op, n, nev, end) : lanczos_eigs(op, n, nev, end, options);
}

Matrix psd_factor(const Matrix& X, Index p) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (X + X.transpose()));
  const Index d = X.rows();
  Matrix F = Matrix::Zero(d, p);
  for (Index k = 0; k < std::min(p, d); ++k) {
    const Index j = d - 1 - k;  // eigenvalues come in ascending order
    const double l = eig.eigenvalues()[j];
    if (l > 0) F.col(k) = std::sqrt(l) * eig.eigenvectors().col(j);
  }
  return F;
}

}  // namespace flowsense
