// The residual's Jacobian Jr (SensingOperator::gram_jacobian,
// SensingLoss::residual_jacobian) and the factor flow's closed-form dense
// Jacobian J = -c Jr^T Jr - 2c (I_p kron A*(r)) (FactorFlow::dense_jacobian),
// which the implicit steppers' dense path prefers to n Jacobian-vector
// products (integrate/detail/shifted_solve.hpp).
//
// Oracles: the base class's default gram_jacobian (d p forward applications,
// called non-virtually), the central difference of U -> A(U U^T) (exact up
// to rounding for a quadratic), the adjoint identity Jr^T y = 2 vec(A*(y) U),
// the column-by-column assembly from the flow's Jacobian-vector products,
// and, for the steppers, the same run with the products-only path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "flowsense/core/random.hpp"
#include "flowsense/flow/factor_flow.hpp"
#include "flowsense/flow/reduced_flow.hpp"
#include "flowsense/integrate/detail/shifted_solve.hpp"
#include "flowsense/integrate/integrate_impl.hpp"
#include "flowsense/integrate/log_time.hpp"
#include "flowsense/problem/entry_sampling_operator.hpp"
#include "flowsense/problem/full_observation.hpp"
#include "flowsense/problem/gaussian_operator.hpp"
#include "flowsense/problem/matrix_operator.hpp"
#include "flowsense/problem/planted.hpp"
#include "flowsense/problem/problem.hpp"
#include "flowsense/problem/rank_one_operator.hpp"
#include "oracles.hpp"

using namespace flowsense;
using oracle::relative_error;

namespace {

struct NamedOperator {
  std::string name;
  std::shared_ptr<const SensingOperator> op;
};

/// One operator of every kind on d x d matrices, with m measurements where
/// the kind lets us choose.
std::vector<NamedOperator> operators(Index d, Index m) {
  std::vector<Matrix> matrices;
  Rng rng(41);
  for (Index i = 0; i < m; ++i) {
    const Matrix G = rng.normal_matrix(d, d);
    matrices.push_back(G + G.transpose());
  }
  return {
      {"gaussian, s = 1", std::make_shared<GaussianOperator>(d, m, GaussianScale::unit, 11)},
      {"gaussian, s = 1/sqrt(m)", std::make_shared<GaussianOperator>(d, m, GaussianScale::inv_sqrt_m, 12)},
      {"matrices, s = 0.7", std::make_shared<MatrixOperator>(matrices, 0.7)},
      {"rank_one, s = 1", std::make_shared<RankOneOperator>(d, m, GaussianScale::unit, 13)},
      {"rank_one, s = 1/sqrt(m)", std::make_shared<RankOneOperator>(d, m, GaussianScale::inv_sqrt_m, 14)},
      {"entry_sampling, unbiased", std::make_shared<EntrySamplingOperator>(
                                       EntrySamplingOperator::random(d, 0.6, 15, EntryScale::unbiased))},
      {"full", std::make_shared<FullObservation>(d)},
  };
}

/// Jr vec(V) as the matrix-vector product it is.
Vector times_vec(const Matrix& Jr, const Matrix& V) { return Jr * Eigen::Map<const Vector>(V.data(), V.size()); }

/// The dense Jacobian the steppers assembled before: n products of the
/// flow's frozen linearization.
Matrix assembled(FactorFlow& flow, const Matrix& U) {
  Matrix J;
  detail::assemble_jacobian(detail::FrozenJacobian<FactorFlow>(flow, U, nullptr), U, J);
  return J;
}

/// FactorFlow without dense_jacobian(): the steppers must assemble its
/// dense Jacobian from products, as they did before the closed form.
struct ProductsOnlyFlow {
  static constexpr bool symmetric_jacobian = true;
  const FactorFlow* flow;
  void operator()(const Matrix& U, Matrix& dU, double t) const { (*flow)(U, dU, t); }
  FactorFlow::Linearization linearize(const Matrix& U) const { return flow->linearize(U); }
};

}  // namespace

TEST_CASE("every operator's gram_jacobian equals the default, the central difference and the adjoint",
          "[dense_jacobian]") {
  // d = 7, p = 3 (n = 21), m = 40. The default forms A(U E_k^T + E_k U^T)
  // with apply(); the overrides never call it. U -> A(U U^T) is quadratic,
  // so the central difference with step 1/2 is exact up to rounding:
  //   (A((U + eV)(U + eV)^T) - A((U - eV)(U - eV)^T)) / (2e) = A(U V^T + V U^T).
  // All three sides are sums of O(d) products of O(1) terms: 1e-12 relative
  // leaves a factor ~100 over the rounding of either.
  const Index d = 7, p = 3, m = 40;
  Rng rng(42);
  const Matrix U = rng.normal_matrix(d, p);
  const Matrix V = rng.normal_matrix(d, p);
  for (const auto& [name, op] : operators(d, m)) {
    INFO(name);
    Matrix Jr, Jdefault;
    op->gram_jacobian(U, Jr);
    op->SensingOperator::gram_jacobian(U, Jdefault);
    REQUIRE(Jr.rows() == op->measurements());
    REQUIRE(Jr.cols() == d * p);
    CHECK(relative_error(Jr, Jdefault) < 1e-12);

    const double e = 0.5;
    Vector plus, minus;
    op->apply_gram(Matrix(U + e * V), plus);
    op->apply_gram(Matrix(U - e * V), minus);
    const Vector central = (plus - minus) / (2 * e);
    CHECK(relative_error(times_vec(Jr, V), central) < 1e-12);

    const Vector y = rng.normal_matrix(op->measurements(), 1).col(0);
    Matrix AyU;
    op->adjoint_times(y, U, AyU);
    const Vector Jty = Jr.transpose() * y;
    CHECK(relative_error(Matrix(Eigen::Map<const Matrix>(Jty.data(), d, p)), Matrix(2.0 * AyU)) < 1e-12);
  }
}

TEST_CASE("packed gram_jacobian is right across its row blocks and for one column", "[dense_jacobian]") {
  // The packed kernel works in blocks of 128 rows of M: m = 300 takes three
  // blocks, the last partial. p = 1 is the narrowest factor, d = 1 the
  // smallest matrix (no off-diagonal entries).
  for (const auto& [d, m, p] :
       std::vector<std::tuple<Index, Index, Index>>{{40, 300, 2}, {5, 9, 1}, {1, 3, 2}}) {
    const GaussianOperator op(d, m, GaussianScale::unit, 21);
    const Matrix U = random_factor(d, p, std::min(d, p), 3.0, 22);
    Matrix Jr, Jdefault;
    op.gram_jacobian(U, Jr);
    op.SensingOperator::gram_jacobian(U, Jdefault);
    INFO("d = " << d << ", m = " << m << ", p = " << p);
    CHECK(relative_error(Jr, Jdefault) < 1e-12);
  }
  const GaussianOperator op(4, 6, GaussianScale::unit, 23);
  Matrix Jr;
  CHECK_THROWS_WITH(op.gram_jacobian(Matrix::Zero(5, 2), Jr),
                    Catch::Matchers::Contains("expected a factor with d = 4 rows, got 5"));
}

TEST_CASE("FactorFlow::dense_jacobian equals the assembly from Jacobian-vector products", "[dense_jacobian]") {
  // J = -c Jr^T Jr - 2c (I_p kron S) against n columns J e_k from the frozen
  // linearization (itself checked against finite differences in
  // test_stiff_steppers.cpp). States: a non-converged random one (S != 0,
  // the second-order term matters), a large one (norm 1e3), and Example
  // 1.1's reduced rank-2 state (the steppers' use). Both sides add O(m)
  // products of the same sizes; 1e-12 relative.
  SECTION("every operator kind, c = 1/4 and 1/2") {
    const Index d = 6, m = 30;
    for (const auto& [name, op] : operators(d, m))
      for (double c : {loss_constant::paper000, loss_constant::paper003})
        for (const auto& [p, norm] : std::vector<std::pair<Index, double>>{{3, 1.0}, {2, 1e3}, {6, 0.3}}) {
          const SensingLoss loss(Problem::noiseless(op, planted_trace_one(d, 2, 31)), c);
          FactorFlow flow(loss);
          const Matrix U = random_factor(d, p, p, norm, 32);
          Matrix S;
          loss.residual_adjoint(U, S);
          INFO(name << ", c = " << c << ", p = " << p << ", ||U|| = " << norm << ", ||S|| = " << S.norm());
          REQUIRE(S.norm() > 1e-3);  // not converged: the I kron S term is there
          Matrix J;
          flow.dense_jacobian(U, J);
          CHECK(relative_error(J, assembled(flow, U)) < 1e-12);
          CHECK(J == J.transpose());  // symmetric by construction
        }
  }
  SECTION("Example 1.1's reduced state, plain and normal operator form") {
    auto op = std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, 1);
    const Problem problem = Problem::noiseless(op, planted_trace_one(30, 2, 2));
    const Matrix L = reduce_initial_factor(random_factor(30, 30, 2, 1.0, 3)).L;
    REQUIRE(L.cols() == 2);
    for (OperatorForm form : {OperatorForm::plain, OperatorForm::normal}) {
      OperatorFormOptions fo;
      fo.form = form;
      FactorFlow flow(SensingLoss(problem, loss_constant::paper000, fo));
      Matrix J;
      flow.dense_jacobian(L, J);
      INFO(to_string(form));
      // The normal form computes the products through Q = M^T M, the closed
      // form through M: they agree to ~1e-13 (normal_operator.hpp).
      CHECK(relative_error(J, assembled(flow, L)) < 1e-12);
    }
  }
}

TEST_CASE("LogTimeSystem forwards the closed form, scaled by t + tau", "[dense_jacobian]") {
  // Its linearization multiplies each product by t + tau at the latest
  // right-hand side; the dense matrix must be the same matrix.
  auto op = std::make_shared<GaussianOperator>(8, 40, GaussianScale::unit, 51);
  FactorFlow flow(SensingLoss(Problem::noiseless(op, planted_trace_one(8, 2, 52)), loss_constant::paper000));
  LogTimeSystem<FactorFlow> in_log(flow, 0.01, 0.0);
  STATIC_REQUIRE(detail::has_dense_jacobian<LogTimeSystem<FactorFlow>>());
  STATIC_REQUIRE_FALSE(detail::has_dense_jacobian<LogTimeSystem<GramFlow>>());
  const Matrix U = random_factor(8, 2, 2, 1.0, 53);
  Matrix f, J, Jp;
  in_log(U, f, 3.0);  // t + tau = 0.01 e^3
  in_log.dense_jacobian(U, J);
  detail::assemble_jacobian(detail::FrozenJacobian<LogTimeSystem<FactorFlow>>(in_log, U, nullptr), U, Jp);
  CHECK(relative_error(J, Jp) < 1e-12);
  Matrix J0;
  flow.dense_jacobian(U, J0);
  CHECK(relative_error(J, Matrix(0.01 * std::exp(3.0) * J0)) < 1e-14);
}

TEST_CASE("bdf and rosenbrock on a reduced flow: closed-form dense Jacobian = products-assembled one",
          "[dense_jacobian][bdf][rosenbrock]") {
  // Example 1.1 (d = 30, m = 240), rank-2 start of norm 1 on the reduced
  // 30 x 2 state, to t = 20 (growth, then the converged stiff tail), in flow
  // time and in log time (LogTimeSystem forwards the closed form). The two
  // paths differ only by the rounding of W, so their states must agree to
  // the tolerance (rtol); the closed form must have computed no products
  // for its Jacobians and the products path 60 per Jacobian.
  auto op = std::make_shared<GaussianOperator>(30, 240, GaussianScale::unit, 1);
  const SensingLoss loss(Problem::noiseless(op, planted_trace_one(30, 2, 2)), loss_constant::paper000);
  FactorFlow flow(loss);
  ProductsOnlyFlow products{&flow};
  const Matrix L0 = reduce_initial_factor(random_factor(30, 30, 2, 1.0, 3)).L;
  const std::vector<double> times = {0.0, 1.0, 20.0};
  for (const auto& [kind, time] : std::vector<std::pair<StepperKind, TimeVariable>>{
           {StepperKind::bdf, TimeVariable::flow},
           {StepperKind::rosenbrock, TimeVariable::flow},
           {StepperKind::bdf, TimeVariable::log}}) {
    IntegrateOptions o;
    o.stepper = kind;
    o.time = time;
    o.rtol = 1e-8;
    o.atol = 1e-12;
    std::vector<Matrix> a, b;
    Matrix La = L0, Lb = L0;
    const Summary sa = integrate(flow, La, times, o, Watch{[&](const Matrix& s, const StepInfo&) { a.push_back(s); }});
    const Summary sb =
        integrate(products, Lb, times, o, Watch{[&](const Matrix& s, const StepInfo&) { b.push_back(s); }});
    INFO(to_string(kind) << " in " << to_string(time) << " time: closed form " << sa.last.steps << " steps, " << sa.last.rhs << " rhs, "
                         << sa.last.jvp << " jvp, " << sa.stiff.jacobians << " Jacobians; products "
                         << sb.last.steps << " steps, " << sb.last.rhs << " rhs, " << sb.last.jvp << " jvp, "
                         << sb.stiff.jacobians << " Jacobians");
    REQUIRE(sa.ok());
    REQUIRE(sb.ok());
    REQUIRE(a.size() == times.size());
    REQUIRE(b.size() == times.size());
    CHECK(sa.stiff.jacobians >= 1);
    CHECK(sa.stiff.analytic_jacobians == sa.stiff.jacobians);
    CHECK(sb.stiff.analytic_jacobians == 0);
    CHECK(sb.last.jvp >= 60 * sb.stiff.jacobians);
    // No GMRES on this path; log time estimates rho(J(x0)) for its scale.
    if (time == TimeVariable::flow) CHECK(sa.last.jvp == 0);
    CHECK(sb.last.jvp - sa.last.jvp == 60 * sb.stiff.jacobians);
    for (std::size_t j = 1; j < times.size(); ++j) {
      const double e =
          relative_error(Matrix(a[j] * a[j].transpose()), Matrix(b[j] * b[j].transpose()));
      INFO("t = " << times[j] << ": relative difference of X " << e);
      CHECK(e < o.rtol);
    }
  }
}
