// Peer: SUNDIALS CVODE (Debian's libsundials-dev 6.4), BDF with matrix-free
// GMRES (SUNLinSol_SPGMR, no preconditioner, CVODE's default Krylov
// dimension 5 and its difference-quotient Jacobian-vector products) on the
// straightforward C++ right-hand side of plain_peer.hpp: how a careful
// researcher integrates a large stiff ODE without writing a Jacobian.
//
//   bench_cvode --problem DIR --repeats N --rtol 1e-8 --atol 1e-12
//               --final U.npy --result result.json [--budget SECONDS]
#include <cstdio>
#include <string>
#include <vector>

#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_spgmr.h>

#include "plain_peer.hpp"

namespace {

struct UserData {
  bench::PlainRhs* f;
  bench::Clock::time_point t0;
  double budget;
  bool out_of_time = false;
};

int rhs(sunrealtype, N_Vector y, N_Vector ydot, void* user) {
  auto* u = static_cast<UserData*>(user);
  if (u->budget > 0 && (u->f->evaluations & 255) == 0 && bench::seconds_since(u->t0) > u->budget) {
    u->out_of_time = true;
    return -1;  // unrecoverable: CVode returns CV_RHSFUNC_FAIL
  }
  (*u->f)(N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::PeerRun run = bench::parse_peer_run(argc, argv);
    const auto& a = run.args;
    const bench::PlainProblem& pr = run.problem;
    const int repeats = run.repeats;
    const double rtol = run.rtol, atol = run.atol, budget = run.budget;
    const sunindextype n = pr.d * pr.p;
    std::vector<double> walls;
    std::string status = "ok", detail;
    long steps = 0, nfe = 0, nfe_ls = 0, nli = 0, nni = 0;
    bench::Matrix U = pr.U0;
    for (int r = 0; r < repeats; ++r) {
      bench::PlainRhs f(pr);
      UserData user{&f, bench::Clock::now(), budget};
      SUNContext ctx;
      if (SUNContext_Create(nullptr, &ctx) != 0) throw std::runtime_error("SUNContext_Create failed");
      N_Vector y = N_VNew_Serial(n, ctx);
      std::copy(pr.U0.data(), pr.U0.data() + n, N_VGetArrayPointer(y));
      void* mem = CVodeCreate(CV_BDF, ctx);
      SUNLinearSolver ls = SUNLinSol_SPGMR(y, SUN_PREC_NONE, 0, ctx);
      int flag = CVodeInit(mem, rhs, 0.0, y);
      flag |= CVodeSStolerances(mem, rtol, atol);
      flag |= CVodeSetUserData(mem, &user);
      flag |= CVodeSetLinearSolver(mem, ls, nullptr);
      flag |= CVodeSetMaxNumSteps(mem, 100000000L);
      if (flag != CV_SUCCESS) throw std::runtime_error("CVODE setup failed");
      sunrealtype t = 0;
      flag = CVode(mem, pr.T, y, &t, CV_NORMAL);
      walls.push_back(bench::seconds_since(user.t0));
      if (user.out_of_time) {
        status = "timeout";
      } else if (flag < 0) {
        status = "failed";
        detail = std::string(CVodeGetReturnFlagName(flag)) + " at t = " + std::to_string(t);
      }
      CVodeGetNumSteps(mem, &steps);
      CVodeGetNumRhsEvals(mem, &nfe);
      CVodeGetNumLinRhsEvals(mem, &nfe_ls);
      CVodeGetNumLinIters(mem, &nli);
      CVodeGetNumNonlinSolvIters(mem, &nni);
      U = Eigen::Map<const bench::Matrix>(N_VGetArrayPointer(y), pr.d, pr.p);
      if (!U.allFinite()) status = "diverged";
      CVodeFree(&mem);
      SUNLinSolFree(ls);
      N_VDestroy(y);
      SUNContext_Free(&ctx);
      if (status != "ok" || walls.back() > 20.0) break;
    }
    flowsense::write_npy(bench::arg(a, "final"), U);
    bench::write_result(bench::arg(a, "result"),
                        {{"tool", "cvode"},
                         {"method", "BDF+GMRES"},
                         {"detail", "SUNDIALS CVODE " + std::string(SUNDIALS_VERSION) +
                                        ", CV_BDF, SPGMR (no preconditioner, default Krylov dimension), "
                                        "difference-quotient Jv; " +
                                        std::to_string(nli) + " linear iterations, " + std::to_string(nni) +
                                        " Newton iterations" + (detail.empty() ? "" : "; " + detail)},
                         {"status", status},
                         {"wall", walls},
                         {"rhs", nfe},
                         {"jvp", nfe_ls},
                         {"steps", steps},
                         {"rtol", rtol},
                         {"atol", atol}});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cvode: %s\n", e.what());
    return 1;
  }
}
