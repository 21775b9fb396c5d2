// Procrustes distance (003 Def. 5.1, 000 (53)) against constructed rotations,
// brute force over rotations and reflections, and the nuclear-norm formula.
#include <catch2/catch.hpp>

#include <cmath>

#include "flowsense/analysis/procrustes.hpp"
#include "flowsense/core/random.hpp"

using namespace flowsense;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {
Matrix random_orthogonal(Index p, Rng& rng) {
  Eigen::HouseholderQR<Matrix> qr(rng.normal_matrix(p, p));
  return qr.householderQ() * Matrix::Identity(p, p);
}
}  // namespace

TEST_CASE("procrustes recovers a constructed rotation U2 = U1 Q^T exactly", "[theory][analysis][procrustes]") {
  Rng rng(1);
  for (Index p : {1, 2, 4, 6}) {
    const Matrix U1 = rng.normal_matrix(9, p);
    const Matrix Q = random_orthogonal(p, rng);
    const Matrix U2 = U1 * Q.transpose();  // then U1 = U2 Q
    const Procrustes pr = procrustes(U1, U2);
    INFO("p = " << p);
    CHECK(pr.distance < 1e-12 * U1.norm());
    CHECK((pr.rotation - Q).norm() < 1e-10);
    CHECK((pr.rotation.transpose() * pr.rotation - Matrix::Identity(p, p)).norm() < 1e-12);
  }
}

TEST_CASE("procrustes is the minimum over rotations and reflections (brute force, p = 2)",
          "[theory][analysis][procrustes]") {
  Rng rng(2);
  for (int trial = 0; trial < 5; ++trial) {
    const Matrix U1 = rng.normal_matrix(6, 2), U2 = rng.normal_matrix(6, 2);
    double brute = INFINITY;
    const int n = 20000;
    for (int k = 0; k < n; ++k) {
      const double a = 2 * M_PI * k / n;
      Matrix R(2, 2);
      R << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
      brute = std::min(brute, (U1 - U2 * R).norm());
      Matrix F(2, 2);  // reflections
      F << std::cos(a), std::sin(a), std::sin(a), -std::cos(a);
      brute = std::min(brute, (U1 - U2 * F).norm());
    }
    const Procrustes pr = procrustes(U1, U2);
    INFO("trial " << trial);
    CHECK(pr.distance <= brute + 1e-12);
    CHECK_THAT(pr.distance, WithinAbs(brute, 1e-6 * U1.norm()));  // grid spacing 3e-4 rad, quadratic error
    CHECK_THAT((U1 - U2 * pr.rotation).norm(), WithinRel(pr.distance, 1e-14));
  }
}

TEST_CASE("procrustes beats sampled orthogonal matrices and matches the nuclear-norm form (53)",
          "[theory][analysis][procrustes]") {
  Rng rng(3);
  const Matrix U1 = rng.normal_matrix(8, 4), U2 = rng.normal_matrix(8, 4);
  const double dist = procrustes_distance(U1, U2);
  double sampled = INFINITY;
  for (int k = 0; k < 5000; ++k) sampled = std::min(sampled, (U1 - U2 * random_orthogonal(4, rng)).norm());
  CHECK(dist <= sampled);
  CHECK_THAT(procrustes_distance_nuclear(U1, U2), WithinRel(dist, 1e-10));
  // A pseudo-metric: symmetric, triangle inequality, invariant under rotations of either.
  const Matrix U3 = rng.normal_matrix(8, 4);
  CHECK_THAT(procrustes_distance(U2, U1), WithinRel(dist, 1e-12));
  CHECK(procrustes_distance(U1, U3) <= dist + procrustes_distance(U2, U3) + 1e-12);
  CHECK_THAT(procrustes_distance(U1 * random_orthogonal(4, rng), U2), WithinRel(dist, 1e-10));
}

TEST_CASE("procrustes across widths pads with zero columns", "[theory][analysis][procrustes]") {
  Rng rng(4);
  const Matrix U1 = rng.normal_matrix(7, 2);
  // The same X = U1 U1^T in a wider factor: distance 0.
  const Matrix wide = pad_columns(U1, 5) * random_orthogonal(5, rng);
  CHECK(procrustes_distance(U1, wide) < 1e-12 * U1.norm());
  CHECK(procrustes_distance(wide, U1) < 1e-12 * U1.norm());
  const Procrustes pr = procrustes(U1, wide);
  CHECK(pr.rotation.rows() == 5);
  // Generic widths: equals the padded computation and the nuclear form.
  const Matrix V = rng.normal_matrix(7, 4);
  CHECK_THAT(procrustes_distance(U1, V), WithinRel(procrustes_distance(pad_columns(U1, 4), V), 1e-14));
  CHECK_THAT(procrustes_distance(U1, V), WithinRel(procrustes_distance_nuclear(U1, V), 1e-10));
  CHECK_THROWS_AS(procrustes(U1, rng.normal_matrix(6, 2)), std::invalid_argument);
}
