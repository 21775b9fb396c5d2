// Peer: a plain Boost.Odeint dopri5 (integrate_adaptive with make_controlled
// on a std::vector<double> state) and the straightforward C++ right-hand side
// of plain_peer.hpp. What a careful C++ user writes without flowsense.
//
//   bench_odeint --problem DIR --repeats N --rtol 1e-8 --atol 1e-12
//                --final U.npy --result result.json [--budget SECONDS]
#include <cstdio>
#include <vector>

#include <boost/numeric/odeint.hpp>

#include "plain_peer.hpp"

namespace odeint = boost::numeric::odeint;
using State = std::vector<double>;

namespace {
struct OutOfTime {};
}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::PeerRun run = bench::parse_peer_run(argc, argv);
    const auto& a = run.args;
    const bench::PlainProblem& pr = run.problem;
    const int repeats = run.repeats;
    const double rtol = run.rtol, atol = run.atol, budget = run.budget;
    std::vector<double> walls;
    std::string status = "ok";
    std::size_t steps = 0;
    std::uint64_t rhs = 0;
    State x;
    for (int r = 0; r < repeats; ++r) {
      bench::PlainRhs f(pr);
      const auto t0 = bench::Clock::now();
      x.assign(pr.U0.data(), pr.U0.data() + pr.U0.size());
      auto system = [&](const State& u, State& dudt, double) {
        if (budget > 0 && (f.evaluations & 255) == 0 && bench::seconds_since(t0) > budget) throw OutOfTime{};
        f(u.data(), dudt.data());
      };
      try {
        steps = odeint::integrate_adaptive(odeint::make_controlled(atol, rtol, odeint::runge_kutta_dopri5<State>()),
                                           system, x, 0.0, pr.T, pr.first_step);
      } catch (const OutOfTime&) {
        status = "timeout";
      } catch (const std::exception& e) {
        status = std::string("failed: ") + e.what();
      }
      walls.push_back(bench::seconds_since(t0));
      rhs = f.evaluations;
      for (double v : x)
        if (!std::isfinite(v)) status = "diverged";
      if (status != "ok" || walls.back() > 20.0) break;
    }
    Eigen::Map<const bench::Matrix> U(x.data(), pr.d, pr.p);
    flowsense::write_npy(bench::arg(a, "final"), bench::Matrix(U));
    bench::write_result(bench::arg(a, "result"), {{"tool", "odeint"},
                                                  {"method", "dopri5"},
                                                  {"detail", "Boost.Odeint runge_kutta_dopri5, make_controlled, "
                                                             "integrate_adaptive; plain Eigen right-hand side"},
                                                  {"status", status},
                                                  {"wall", walls},
                                                  {"rhs", rhs},
                                                  {"jvp", 0},
                                                  {"steps", steps},
                                                  {"rtol", rtol},
                                                  {"atol", atol}});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_odeint: %s\n", e.what());
    return 1;
  }
}
