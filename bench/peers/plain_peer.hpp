#pragma once
// What the C++ peers of the benchmark share (bench/peers/odeint_dopri5.cpp,
// bench/peers/cvode_bdf.cpp): reading a problem's files and a straightforward
// right-hand side of the factor flow, written the way a researcher would
// write it without flowsense:
//
//   X = U U^T,  v = vech(X),  r = M v - b,  y = M^T r,  S = unvech(y),
//   U' = -2c S U,
//
// with M the m x D packed operator of A.npy (row i = s vech(A_i), upper
// triangle row by row, off-diagonal entries times sqrt(2)). Dense Eigen
// products, no normal operator, no reduction: the "plain C++" baseline of
// issue 5. Only the file reading comes from flowsense (io/npy.hpp).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "flowsense/io/atomic_file.hpp"
#include "flowsense/io/npy.hpp"

namespace bench {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;
using Clock = std::chrono::steady_clock;

struct PlainProblem {
  nlohmann::json meta;
  int d = 0, p = 0;
  double c = 0, T = 0, first_step = 0;
  Matrix M;  ///< m x D
  Vector b;
  Matrix U0;
};

inline PlainProblem load_problem(const std::string& dir) {
  PlainProblem pr;
  std::ifstream in(dir + "/meta.json");
  if (!in) throw std::runtime_error("cannot read " + dir + "/meta.json");
  pr.meta = nlohmann::json::parse(in);
  pr.d = pr.meta.at("d").get<int>();
  pr.c = pr.meta.at("c").get<double>();
  pr.T = pr.meta.at("T").get<double>();
  pr.first_step = pr.meta.at("first_step").get<double>();
  pr.M = flowsense::read_npy_matrix(dir + "/A.npy");
  const flowsense::NpyArray b = flowsense::read_npy(dir + "/b.npy");
  pr.b = Eigen::Map<const Vector>(b.data.data(), static_cast<Eigen::Index>(b.data.size()));
  pr.U0 = flowsense::read_npy_matrix(dir + "/U0.npy");
  pr.p = static_cast<int>(pr.U0.cols());
  return pr;
}

/// The right-hand side on a flat column-major state of d x p entries.
class PlainRhs {
public:
  explicit PlainRhs(const PlainProblem& pr)
      : M_(pr.M), b_(pr.b), d_(pr.d), p_(pr.p), c_(pr.c), X_(pr.d, pr.d), S_(pr.d, pr.d),
        v_(pr.M.cols()), r_(pr.M.rows()), y_(pr.M.cols()) {}

  void operator()(const double* u, double* dudt) {
    Eigen::Map<const Matrix> U(u, d_, p_);
    Eigen::Map<Matrix> dU(dudt, d_, p_);
    X_.noalias() = U * U.transpose();
    const double s2 = std::sqrt(2.0);
    Eigen::Index k = 0;
    for (int i = 0; i < d_; ++i) {
      v_(k++) = X_(i, i);
      for (int j = i + 1; j < d_; ++j) v_(k++) = s2 * X_(i, j);
    }
    r_.noalias() = M_ * v_;
    r_ -= b_;
    y_.noalias() = M_.transpose() * r_;
    k = 0;
    for (int i = 0; i < d_; ++i) {
      S_(i, i) = y_(k++);
      for (int j = i + 1; j < d_; ++j) S_(i, j) = S_(j, i) = y_(k++) / s2;
    }
    dU.noalias() = -2.0 * c_ * S_ * U;
    ++evaluations;
  }

  std::uint64_t evaluations = 0;

private:
  const Matrix& M_;
  const Vector& b_;
  int d_, p_;
  double c_;
  Matrix X_, S_;
  Vector v_, r_, y_;
};

/// --key value arguments.
inline std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + key + "'");
    a[key.substr(2)] = argv[i + 1];
  }
  return a;
}

inline std::string arg(const std::map<std::string, std::string>& a, const std::string& key,
                       const char* fallback = nullptr) {
  auto it = a.find(key);
  if (it != a.end()) return it->second;
  if (!fallback) throw std::invalid_argument("missing --" + key);
  return fallback;
}

/// What every C++ peer reads from its command line, and its problem.
struct PeerRun {
  std::map<std::string, std::string> args;
  PlainProblem problem;
  int repeats = 1;
  double rtol = 1e-8, atol = 1e-12;
  double budget = 0;  ///< seconds before a run is stopped (0 = no limit)
};

inline PeerRun parse_peer_run(int argc, char** argv) {
  PeerRun run;
  run.args = parse_args(argc, argv);
  run.problem = load_problem(arg(run.args, "problem"));
  run.repeats = std::stoi(arg(run.args, "repeats", "1"));
  run.rtol = std::stod(arg(run.args, "rtol", "1e-8"));
  run.atol = std::stod(arg(run.args, "atol", "1e-12"));
  run.budget = std::stod(arg(run.args, "budget", "0"));
  return run;
}

inline void write_result(const std::string& path, const nlohmann::json& j) {
  flowsense::write_file_atomically(path, j.dump(2) + "\n");
}

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace bench
