#!/usr/bin/env python3
"""Python peers of the flow benchmark (bench/run_bench.py): what a researcher
writes today with NumPy and SciPy, on the same files as every other tool.

    python_peers.py --problem DIR --method METHOD --repeats N --final U.npy
                    --result result.json [--rtol 1e-8 --atol 1e-12 --budget S]

METHOD is one of
  gd_packed   NumPy GD loop U <- U - h grad G_c(U) on the packed m x D operator
  gd_normal   the same loop on the normal operator Q = M^T M (D x D), q = M^T b,
              formed inside the timed region: A*(A(X) - b) = unvech(Q vech(X) - q)
  RK45, DOP853, LSODA, BDF
              scipy.integrate.solve_ivp on U' = -2c A*(A(UU^T) - b) U, with the
              cheaper of the two right-hand sides above (the normal form when
              D < m, as a researcher who knows the trick would), default
              options otherwise (finite-difference Jacobians for LSODA and BDF).

Files (bench/bench_flows.cpp writes them): A.npy (m x D packed operator, row i
= s vech(A_i), upper triangle row by row, off-diagonal entries times sqrt(2)),
b.npy, U0.npy (d x p), meta.json (c, T, gd_step, gd_iterations, target_rel),
reference.json (the reference's training error at T).

GD loops: on a problem with a training-error target (target_rel > 0, problem
1) they stop at ||A(UU^T) - b||^2 <= target_rel ||b||^2, checked every
iteration (at most 3x the iterations the flow's horizon corresponds to); on
the others they run the paper's iteration count gd_iterations (the paper's
horizon; both the flow and GD end at the round-off floor there). Divergence
(non-finite state or ||U||_F > 1e8) ends a loop early.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np


class OutOfTime(Exception):
    pass


def load(problem):
    with open(os.path.join(problem, "meta.json")) as f:
        meta = json.load(f)
    with open(os.path.join(problem, "reference.json")) as f:
        ref = json.load(f)
    M = np.load(os.path.join(problem, "A.npy"))
    b = np.load(os.path.join(problem, "b.npy"))
    U0 = np.load(os.path.join(problem, "U0.npy"))
    return meta, ref, M, b, U0


class Packing:
    """vech / unvech of core/packed.hpp: upper triangle row by row, off-diagonal * sqrt(2)."""

    def __init__(self, d):
        self.d = d
        self.iu = np.triu_indices(d)  # row-major order of the upper triangle
        self.lower = (self.iu[1], self.iu[0])
        self.w = np.where(self.iu[0] == self.iu[1], 1.0, math.sqrt(2.0))
        self.S = np.zeros((d, d))

    def vech(self, X):
        return X[self.iu] * self.w

    def unvech(self, y):
        z = y / self.w
        S = self.S
        S[self.iu] = z
        S[self.lower] = z
        return S


def make_adjoint_residual(form, M, b, pk):
    """Returns f(U) -> (S = A*(A(UU^T) - b), training error ||A(UU^T) - b||^2)."""
    if form == "packed":
        def f(U):
            r = M @ pk.vech(U @ U.T) - b
            return pk.unvech(M.T @ r), float(r @ r)
        return f
    Q = M.T @ M
    q = M.T @ b
    bb = float(b @ b)

    def f(U):
        v = pk.vech(U @ U.T)
        y = Q @ v - q
        # ||Mv - b||^2 = v^T Q v - 2 q^T v + b^T b = v^T y - q^T v + b^T b
        return pk.unvech(y), float(v @ y - q @ v + bb)
    return f


def gd(meta, ref, M, b, U0, form, budget):
    c, h = meta["c"], meta["gd_step"]
    if meta["target_rel"] > 0:
        target = meta["target_rel"] * float(b @ b)
        max_iter = 3 * max(meta["gd_iterations"], 1)
    else:
        target = -1.0  # run the paper's horizon
        max_iter = meta["gd_iterations"]
    pk = Packing(meta["d"])
    t0 = time.perf_counter()
    f = make_adjoint_residual(form, M, b, pk)  # the normal operator is formed in the timed region
    U = U0.copy()
    status = "target not reached"
    k = 0
    while k <= max_iter:
        S, te = f(U)
        if not math.isfinite(te) or not np.all(np.isfinite(U)) or np.linalg.norm(U) > 1e8:
            status = "diverged"
            break
        if te <= target:
            status = "ok"
            break
        if k == max_iter:
            if target < 0:
                status = "ok"
            break
        U -= (h * 2.0 * c) * (S @ U)
        k += 1
        if budget > 0 and (k & 255) == 0 and time.perf_counter() - t0 > budget:
            status = "timeout"
            break
    wall = time.perf_counter() - t0
    return U, wall, {"status": status, "rhs": k + 1, "jvp": 0, "steps": k, "iterations": k,
                     "target": target,
                     "detail": f"NumPy GD, {form} operator, h = {h:g}, " +
                               (f"stop at training error <= {target:.3e} or {max_iter} iterations" if target >= 0
                                else f"{max_iter} iterations (the paper's horizon)")}


def ivp(meta, M, b, U0, method, rtol, atol, budget):
    from scipy.integrate import solve_ivp
    c, T = meta["c"], meta["T"]
    d, p = U0.shape
    pk = Packing(d)
    form = "normal" if M.shape[1] < M.shape[0] else "packed"
    t0 = time.perf_counter()
    f = make_adjoint_residual(form, M, b, pk)
    count = [0]

    def fun(t, y):
        count[0] += 1
        if budget > 0 and (count[0] & 255) == 0 and time.perf_counter() - t0 > budget:
            raise OutOfTime()
        U = y.reshape(d, p)
        S, _ = f(U)
        return (-2.0 * c * (S @ U)).ravel()

    try:
        sol = solve_ivp(fun, (0.0, T), U0.ravel(), method=method, rtol=rtol, atol=atol, t_eval=[T])
        wall = time.perf_counter() - t0
        ok = sol.status == 0 and sol.y.shape[1] == 1 and np.all(np.isfinite(sol.y))
        U = sol.y[:, -1].reshape(d, p) if sol.y.shape[1] == 1 else U0 * np.nan
        info = {"status": "ok" if ok else "failed", "rhs": int(sol.nfev), "jvp": 0,
                "steps": None, "detail": f"scipy {__import__('scipy').__version__} solve_ivp {method}, "
                                         f"{form} right-hand side, njev {sol.njev}, nlu {sol.nlu}; {sol.message}"}
    except OutOfTime:
        wall = time.perf_counter() - t0
        U = U0 * np.nan
        info = {"status": "timeout", "rhs": count[0], "jvp": 0, "steps": None,
                "detail": f"scipy solve_ivp {method}, {form} right-hand side"}
    return U, wall, info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", required=True)
    ap.add_argument("--method", required=True,
                    choices=["gd_packed", "gd_normal", "RK45", "DOP853", "LSODA", "BDF"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--atol", type=float, default=1e-12)
    ap.add_argument("--budget", type=float, default=0.0)
    ap.add_argument("--final", required=True)
    ap.add_argument("--result", required=True)
    a = ap.parse_args()
    meta, ref, M, b, U0 = load(a.problem)
    walls = []
    for _ in range(a.repeats):
        if a.method.startswith("gd_"):
            U, wall, info = gd(meta, ref, M, b, U0, a.method[3:], a.budget)
            tool = "numpy"
        else:
            U, wall, info = ivp(meta, M, b, U0, a.method, a.rtol, a.atol, a.budget)
            tool = "scipy"
        walls.append(wall)
        if info["status"] != "ok" or wall > 20.0:
            break
    np.save(a.final, U)
    out = {"tool": tool, "method": a.method, "wall": walls, "rtol": a.rtol, "atol": a.atol,
           "numpy": np.__version__}
    out.update(info)
    tmp = a.result + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, a.result)


if __name__ == "__main__":
    sys.exit(main())
