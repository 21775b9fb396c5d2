#!/usr/bin/env python3
"""The benchmark of issue 5: flowsense against the tools researchers use today,
in one run, on the same files. Usually started by `bash scripts/run.sh bench`.

    run_bench.py --build BUILD_DIR --out results/bench [--quick] [--budget 120]
                 [--repeats 3] [--problems p1,p2,...] [--skip-sweep] [--skip-kernels]

Steps (docs/performance.md explains the choices):
  1. bench_flows prepare: every problem's A.npy, b.npy, U0.npy, meta.json and
     its tight reference Xref.npy (fehlberg78, rtol 1e-13);
  2. every tool on every problem (problems 1-4), each in its own process:
     flowsense configurations (bench_flows run), a plain odeint dopri5
     (bench_odeint), CVODE BDF + GMRES (bench_cvode, if built), NumPy GD loops
     and scipy solve_ivp (peers/python_peers.py); the median wall time of up
     to --repeats runs (runs longer than 20 s are not repeated; runs under
     0.1 s run again, up to 21 times, except with --quick: SHORT_RUN), evaluation
     counts, and the final state, from which this script computes the error
     ||U U^T - Xref||_F / ||Xref||_F and the relative training error itself;
  3. problem 5: the Example 1.1 sweep through experiment/sweep.hpp on 1 and 2
     threads (bench_flows sweep);
  4. problem 6: the kernel engineer's bench_kernels, if built (its own table);
  5. results.csv (one row per tool, problem and tolerance), summary.csv (per
     problem: best peer, best flowsense configuration, ratio), manifest.json
     (machine, load, versions, tolerances, command), table.md (what is printed).

With --tolerances (e.g. 1e-6,1e-8,1e-10) every flow solver that reached the
end of a problem at the main setting (rtol 1e-8, atol 1e-12; accurate enough
to count as a solution or not) within --wp-within (5)
times the fastest one's wall time on its side (flowsense; the peers) runs again at each other rtol (atol =
1e-4 rtol): a work-precision comparison, since the tools read
rtol differently (error norms, error estimators) and land on different
global errors at the same setting. The table then adds, for every point of
the peers' work-precision front, flowsense's fastest run that is at least as
accurate, and work_precision.png draws the fronts.
"""
import argparse
import csv
import datetime
import glob
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RTOL, ATOL = 1e-8, 1e-12   # every flow solver, every problem (the issue's setting)
ATOL_PER_RTOL = ATOL / RTOL  # --tolerances: atol = 1e-4 rtol at every other rtol
ACCURATE = 1e-6            # a flow solver's error must be below this to count as a solution
# Short runs are repeated more, by the same rule for every tool: a run whose
# median over --repeats is under SHORT_RUN seconds runs again, as many times
# as fill SHORT_TOTAL seconds (odd, at most SHORT_MAX_REPEATS). A median of
# three runs of a few milliseconds samples the machine's hiccups (problem 1:
# 2-thread runs of 6.8 to 13.9 ms in one process), not the tool.
SHORT_RUN, SHORT_TOTAL, SHORT_MAX_REPEATS = 0.1, 1.0, 21
# Matched accuracy: errors below this are not resolved by the references
# (fehlberg78 at rtol 1e-13, or auto at 1e-12 checked against LSODA to 8e-13)
# and count as equal.
MATCH_FLOOR = 1e-11
PY = sys.executable


def log(msg):
    print(msg, flush=True)


def run(cmd, timeout, env=None):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr, time.time() - t0
    except subprocess.TimeoutExpired:
        return -9, "", "killed after %.0f s" % timeout, time.time() - t0


def rel_error(U, Xref):
    X = U @ U.T
    return float(np.linalg.norm(X - Xref) / np.linalg.norm(Xref))


def training_error(U, M, b):
    d = U.shape[0]
    iu = np.triu_indices(d)
    w = np.where(iu[0] == iu[1], 1.0, math.sqrt(2.0))
    r = M @ ((U @ U.T)[iu] * w) - b
    return float(r @ r)


def tools_for(args, problem_dir, rtol=RTOL):
    """(tool, method, command-without-output-arguments, env) for every tool, at rtol."""
    atol = ATOL if rtol == RTOL else ATOL_PER_RTOL * rtol
    b = args.build + "/bench"
    out = []
    configs = subprocess.run([b + "/bench_flows", "configs", "--problem", problem_dir],
                             capture_output=True, text=True, check=True).stdout.split()
    for c in configs:
        out.append(("flowsense", c, [b + "/bench_flows", "run", "--problem", problem_dir, "--config", c,
                                     "--rtol", str(rtol), "--atol", str(atol)], None))
    out.append(("odeint", "dopri5", [b + "/bench_odeint", "--problem", problem_dir,
                                     "--rtol", str(rtol), "--atol", str(atol)], None))
    if os.path.exists(b + "/bench_cvode"):
        out.append(("cvode", "BDF+GMRES", [b + "/bench_cvode", "--problem", problem_dir,
                                           "--rtol", str(rtol), "--atol", str(atol)], None))
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", str(args.blas_threads))
    env.setdefault("OMP_NUM_THREADS", str(args.blas_threads))
    def python_peer(m):
        return [PY, os.path.join(HERE, "peers", "python_peers.py"), "--problem", problem_dir,
                "--method", m, "--rtol", str(rtol), "--atol", str(atol)]
    for m in ["gd_packed", "gd_normal", "RK45", "DOP853", "LSODA", "BDF"]:
        out.append(("numpy" if m.startswith("gd") else "scipy", m, python_peer(m), env))
    # NumPy's GD on Q with both cores, beside flowsense's "+2threads" rows: on
    # problem 4's 13 MB Q, OpenBLAS's threaded GEMV is NumPy's fastest setting.
    env2 = dict(env, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2")
    out.append(("numpy", "gd_normal+2threads", python_peer("gd_normal"), env2))
    return out


def is_flow_solver(row):
    return row["tool"] != "numpy" and not row["method"].startswith("gd")


def bench_problem(args, name, rows):
    pdir = os.path.join(args.out, "data", name)
    rdir = os.path.join(args.out, "runs", name)
    os.makedirs(rdir, exist_ok=True)
    with open(os.path.join(pdir, "meta.json")) as f:
        meta = json.load(f)
    ctx = {"name": name, "rdir": rdir, "Xref": np.load(os.path.join(pdir, "Xref.npy")),
           "M": np.load(os.path.join(pdir, "A.npy")), "b": np.load(os.path.join(pdir, "b.npy"))}
    log(f"\n[bench] {name}: {meta['title']} (T = {meta['T']:.6g})")
    excluded = set(filter(None, args.exclude.split(",")))
    finished_at_main = {}
    for tool, method, cmd, env in tools_for(args, pdir):
        if f"{tool}:{method}" in excluded or (args.only and tool != args.only):
            continue
        row = run_tool(args, ctx, tool, method, cmd, env, RTOL)
        rows.append(row)
        if finished(row) and is_flow_solver(row):
            finished_at_main[(tool, method)] = row["wall_median"]
    # Work precision: the flow solvers that reached T at the main setting
    # within --wp-within times the wall time of the fastest one of their side
    # (flowsense, or the peers: the matched-accuracy table needs the peers'
    # own front), at every other tolerance. Reaching T is enough: a solver
    # whose error at rtol 1e-8 misses the bar of a solution (CVODE on problem
    # 3's rank-30 start, 6.6e-6 on one machine, 6.0e-8 on another) is the one
    # a researcher would run again at a tighter tolerance, and leaving it out
    # would leave its front out of the matched-accuracy table. A solver that
    # timed out at 1e-8 would only time out again, and one 5x slower than the
    # fastest of its side is nowhere near that side's front.
    def side(key):
        return key[0] == "flowsense"
    fastest = {s: min((w for k, w in finished_at_main.items() if side(k) == s), default=0.0) for s in (True, False)}
    rerun = {k for k, w in finished_at_main.items() if w <= args.wp_within * fastest[side(k)]}
    for rtol in args.tolerances:
        if rtol == RTOL or not rerun:
            continue
        log(f"  -- rtol {rtol:g}, atol {ATOL_PER_RTOL * rtol:g}")
        for tool, method, cmd, env in tools_for(args, pdir, rtol):
            if (tool, method) in rerun:
                rows.append(run_tool(args, ctx, tool, method, cmd, env, rtol))


def run_tool(args, ctx, tool, method, cmd, env, rtol):
    """One tool at one tolerance: its row, with the error computed here from its final state."""
    suffix = "" if rtol == RTOL else f"_rtol{rtol:g}"
    tag = f"{tool}_{method}".replace("+", "_") + suffix
    final = os.path.join(ctx["rdir"], tag + ".npy")
    result = os.path.join(ctx["rdir"], tag + ".json")
    def invoke(repeats):
        for f in (final, result):
            if os.path.exists(f):
                os.remove(f)
        full = cmd + ["--repeats", str(repeats), "--budget", str(args.budget), "--final", final, "--result", result]
        return run(full, timeout=args.budget * 2 + 120, env=env)

    load0 = os.getloadavg()[0]
    code, _, err, elapsed = invoke(args.repeats)
    more = short_run_repeats(args.repeats, result) if code == 0 and not args.quick else None
    if more:
        code, _, err, elapsed_more = invoke(more)
        elapsed += elapsed_more
    gd = tool == "numpy" or method.startswith("gd")
    row = {"problem": ctx["name"], "tool": tool, "method": method, "rtol": None if gd else rtol,
           "status": "failed", "wall_median": None,
           "wall_runs": "", "repeats": 0, "rhs": None, "jvp": None, "prec": None, "steps": None,
           "error": None, "train_rel": None, "load": round(load0, 2), "detail": "", "command": " ".join(map(shlex.quote, cmd))}
    if code == 0 and os.path.exists(result):
        with open(result) as f:
            r = json.load(f)
        walls = r["wall"]
        row.update(status=r["status"], wall_median=statistics.median(walls) if walls else None,
                   wall_runs=" ".join(f"{w:.4g}" for w in walls), repeats=len(walls), rhs=r.get("rhs"),
                   jvp=r.get("jvp"), steps=r.get("steps"), detail=r.get("detail", ""),
                   # preconditioner applications (bdf's Woodbury; ~1.5 products each), not in jvp
                   prec=r.get("stiff", {}).get("preconditioner_applications"))
        if r.get("iterations") is not None:
            row["steps"] = r["iterations"]
        U = np.load(final)
        if np.all(np.isfinite(U)):
            row["error"] = rel_error(U, ctx["Xref"])
            row["train_rel"] = training_error(U, ctx["M"], ctx["b"]) / float(ctx["b"] @ ctx["b"])
    else:
        row["detail"] = (err.strip().splitlines() or ["exit code %d" % code])[-1]
        if code == -9:
            row["status"] = "timeout"
    log(f"  {tool:9s} {method:18s} {row['status']:9s} wall {fmt(row['wall_median'], '%.4g'):>9s} s"
        f"  rhs {fmt(row['rhs'], '%d'):>8s}  jvp {fmt(row['jvp'], '%d'):>7s}"
        f"  err {fmt(row['error'], '%.2e'):>9s}  train {fmt(row['train_rel'], '%.2e'):>9s}"
        f"  (load {load0:.1f}, {elapsed:.0f} s)")
    return row


def short_run_repeats(repeats, result):
    """The repeats for a second invocation of a short run (SHORT_RUN), or None."""
    if not os.path.exists(result):
        return None
    with open(result) as f:
        r = json.load(f)
    walls = r.get("wall") or []
    if r.get("status") != "ok" or len(walls) < repeats:
        return None
    median = statistics.median(walls)
    if median >= SHORT_RUN:
        return None
    n = min(SHORT_MAX_REPEATS, max(repeats, math.ceil(SHORT_TOTAL / max(median, 1e-6))))
    n += 1 - n % 2  # odd: the median is one run
    return n if n > repeats else None


def fmt(x, spec):
    if x is None:
        return "-"
    return spec % x


def usable(row):
    """A row that solved its problem: GD loops reached the training-error target,
    flow solvers finished with an error below ACCURATE."""
    if not finished(row):
        return False
    if not is_flow_solver(row):
        return True
    return row["error"] is not None and row["error"] <= ACCURATE


def finished(row):
    """A row that ran to its end (status ok: T reached, or a GD loop's target),
    whatever its error."""
    return row["status"] == "ok" and row["wall_median"] is not None


def at_main_setting(row):
    """GD loops, and flow solvers at the issue's rtol 1e-8 / atol 1e-12 (rows of
    older runs have no rtol: they were all at that setting)."""
    return row.get("rtol") in (None, RTOL)


def summarize(rows, problems):
    summary = []
    for name in problems:
        pr = [r for r in rows if r["problem"] == name and at_main_setting(r)]
        peers = [r for r in pr if r["tool"] != "flowsense" and usable(r)]
        ours = [r for r in pr if r["tool"] == "flowsense" and usable(r)]
        best_peer = min(peers, key=lambda r: r["wall_median"]) if peers else None
        # flowsense's best at the same or better accuracy than that peer (for a
        # GD peer, whose error against the flow is O(h), any usable flowsense row)
        if best_peer and best_peer["tool"] != "numpy":
            same_acc = [r for r in ours if not r["method"].startswith("gd") and r["error"] <= max(best_peer["error"], 1e-9)]
        else:
            same_acc = ours
        best_ours = min(same_acc, key=lambda r: r["wall_median"]) if same_acc else None
        # The same among flow solvers only (GD loops left out on both sides).
        flow_peers = [r for r in peers if r["tool"] != "numpy"]
        best_flow_peer = min(flow_peers, key=lambda r: r["wall_median"]) if flow_peers else None
        flow_ours = [r for r in ours if not r["method"].startswith("gd") and
                     (best_flow_peer is None or r["error"] <= max(best_flow_peer["error"], 1e-9))]
        best_flow_ours = min(flow_ours, key=lambda r: r["wall_median"]) if flow_ours else None
        for r in pr:
            r["ratio_to_best_peer"] = (r["wall_median"] / best_peer["wall_median"]
                                       if best_peer and r["wall_median"] else None)
        summary.append({"problem": name,
                        "best_peer": f"{best_peer['tool']} {best_peer['method']}" if best_peer else "-",
                        "best_peer_wall": best_peer["wall_median"] if best_peer else None,
                        "best_peer_error": best_peer["error"] if best_peer else None,
                        "flowsense": best_ours["method"] if best_ours else "-",
                        "flowsense_wall": best_ours["wall_median"] if best_ours else None,
                        "flowsense_error": best_ours["error"] if best_ours else None,
                        "speedup": (best_peer["wall_median"] / best_ours["wall_median"]
                                    if best_peer and best_ours else None),
                        "best_flow_peer": (f"{best_flow_peer['tool']} {best_flow_peer['method']}"
                                           if best_flow_peer else "-"),
                        "best_flow_peer_wall": best_flow_peer["wall_median"] if best_flow_peer else None,
                        "flowsense_flow": best_flow_ours["method"] if best_flow_ours else "-",
                        "flowsense_flow_wall": best_flow_ours["wall_median"] if best_flow_ours else None,
                        "flow_speedup": (best_flow_peer["wall_median"] / best_flow_ours["wall_median"]
                                         if best_flow_peer and best_flow_ours else None)})
    return summary


def pareto(points):
    """The rows no other row beats in both wall time and error, fastest first."""
    front, best_error = [], math.inf
    for r in sorted(points, key=lambda r: (r["wall_median"], r["error"])):
        if r["error"] < best_error:
            front.append(r)
            best_error = r["error"]
    return front


def matched_accuracy(rows, problems):
    """For every point of the peers' work-precision front (flow solvers at any
    tolerance), flowsense's fastest flow-solver run at least as accurate
    (errors below MATCH_FLOOR count as equal)."""
    out = []
    for name in problems:
        flows = [r for r in rows if r["problem"] == name and is_flow_solver(r) and usable(r)]
        peers = pareto([r for r in flows if r["tool"] != "flowsense"])
        ours = [r for r in flows if r["tool"] == "flowsense"]
        for p in peers:
            level = max(p["error"], MATCH_FLOOR)
            good = [r for r in ours if r["error"] <= level]
            best = min(good, key=lambda r: r["wall_median"]) if good else None
            out.append({"problem": name, "peer": f"{p['tool']} {p['method']}", "peer_rtol": p["rtol"],
                        "peer_error": p["error"], "peer_wall": p["wall_median"],
                        "flowsense": best["method"] if best else "-", "flowsense_rtol": best["rtol"] if best else None,
                        "flowsense_error": best["error"] if best else None,
                        "flowsense_wall": best["wall_median"] if best else None,
                        "speedup": p["wall_median"] / best["wall_median"] if best else None})
    return out


def table(rows, summary, sweep, kernels, manifest, matched):
    L = []
    others = [r for r in rows if not at_main_setting(r)]
    rows = [r for r in rows if at_main_setting(r)]
    loads = [r["load"] for r in rows if r.get("load") is not None]
    load_text = f"load average {min(loads):.1f}-{max(loads):.1f} at the starts of the runs" if loads else ""
    L.append(f"Machine: {machine_text(manifest['machine'])}; {load_text}; "
             f"all flow solvers at rtol {RTOL:g}, atol {ATOL:g}; wall = median of up to "
             f"{manifest['repeats']} runs (runs over 20 s once, runs under {SHORT_RUN:g} s up to "
             f"{SHORT_MAX_REPEATS} times)")
    L.append("")
    L.append("| problem | tool | method | status | wall s | x best peer | rhs | jvp | prec | steps/iters | error vs ref | train err rel |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        L.append(f"| {r['problem']} | {r['tool']} | {r['method']} | {r['status']} | {fmt(r['wall_median'], '%.4g')} | "
                 f"{fmt(r.get('ratio_to_best_peer'), '%.3g')} | {fmt(r['rhs'], '%d')} | {fmt(r['jvp'], '%d')} | "
                 f"{fmt(r.get('prec'), '%d')} | {fmt(r['steps'], '%d')} | {fmt(r['error'] if r['status'] == 'ok' else None, '%.1e')} | "
                 f"{fmt(r['train_rel'] if r['status'] == 'ok' else None, '%.1e')} |")
    L.append("")
    L.append("| problem | best peer | its wall s | its error | flowsense best | wall s | error | speedup |")
    L.append("|---|---|---|---|---|---|---|---|")
    for s in summary:
        L.append(f"| {s['problem']} | {s['best_peer']} | {fmt(s['best_peer_wall'], '%.4g')} | "
                 f"{fmt(s['best_peer_error'], '%.1e')} | {s['flowsense']} | {fmt(s['flowsense_wall'], '%.4g')} | "
                 f"{fmt(s['flowsense_error'], '%.1e')} | {fmt(s['speedup'], '%.2f')}x |")
    L.append("")
    L.append("Flow solvers only (GD loops left out on both sides):")
    L.append("")
    L.append("| problem | best flow-solver peer | wall s | flowsense flow solver | wall s | speedup |")
    L.append("|---|---|---|---|---|---|")
    for s in summary:
        L.append(f"| {s['problem']} | {s['best_flow_peer']} | {fmt(s['best_flow_peer_wall'], '%.4g')} | "
                 f"{s['flowsense_flow']} | {fmt(s['flowsense_flow_wall'], '%.4g')} | "
                 f"{fmt(s['flow_speedup'], '%.2f')}x |")
    if others:
        L.append("")
        L.append("Work precision: the flow solvers that reached the end of a problem at rtol 1e-8 within "
                 f"{manifest.get('work_precision_within', 5):g}x of the wall time of the fastest on their side "
                 "(flowsense; the peers), also at rtol "
                 + ", ".join(sorted({f"{r['rtol']:g}" for r in others}, key=float)) + " (atol = 1e-4 rtol):")
        L.append("")
        L.append("| problem | tool | method | rtol | status | wall s | rhs | jvp | prec | steps | error vs ref |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sorted(others, key=lambda r: (r["problem"], r["tool"] != "flowsense", r["tool"], r["method"],
                                                r["rtol"])):
            L.append(f"| {r['problem']} | {r['tool']} | {r['method']} | {r['rtol']:g} | {r['status']} | "
                     f"{fmt(r['wall_median'], '%.4g')} | {fmt(r['rhs'], '%d')} | {fmt(r['jvp'], '%d')} | "
                     f"{fmt(r.get('prec'), '%d')} | {fmt(r['steps'], '%d')} | {fmt(r['error'] if r['status'] == 'ok' else None, '%.1e')} |")
    if matched:
        L.append("")
        L.append(f"Matched accuracy: every point of the peers' work-precision front (flow solvers, any rtol; "
                 f"no faster peer run is as accurate) against flowsense's fastest flow-solver run that is at "
                 f"least as accurate (errors below {MATCH_FLOOR:g} count as equal):")
        L.append("")
        L.append("| problem | peer | rtol | its error | wall s | flowsense | rtol | error | wall s | speedup |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for m in matched:
            L.append(f"| {m['problem']} | {m['peer']} | {fmt(m['peer_rtol'], '%g')} | {m['peer_error']:.1e} | "
                     f"{m['peer_wall']:.4g} | {m['flowsense']} | {fmt(m['flowsense_rtol'], '%g')} | "
                     f"{fmt(m['flowsense_error'], '%.1e')} | {fmt(m['flowsense_wall'], '%.4g')} | "
                     f"{fmt(m['speedup'], '%.2f')}x |")
    if sweep:
        L.append("")
        L.append("| problem 5: Example 1.1 sweep (18 runs, stepper auto) | wall s | load at start |")
        L.append("|---|---|---|")
        for s in sweep:
            L.append(f"| {s['threads']} thread(s) | {fmt(s.get('wall'), '%.2f')} | {s['load']:.1f} |")
        if len(sweep) == 2 and sweep[0].get("wall") and sweep[1].get("wall"):
            L.append(f"| speedup 2 vs 1 | {sweep[0]['wall'] / sweep[1]['wall']:.2f}x | |")
    L.append("")
    L.append("Problem 6 (bench_kernels): " + (kernels if kernels else "not built (bench_kernels is not in this build)"))
    return "\n".join(L)


NUMERIC = {"rtol": float, "wall_median": float, "ratio_to_best_peer": float, "repeats": int, "rhs": int, "jvp": int, "prec": int,
           "steps": int, "error": float, "train_rel": float, "load": float}


def load_previous(out):
    """Rows, sweep and kernel note of the last run in `out` (empty if none)."""
    prev = {"rows": [], "sweep": [], "kernels": ""}
    try:
        with open(os.path.join(out, "results.csv")) as f:
            for r in csv.DictReader(f):
                for k, conv in NUMERIC.items():
                    r[k] = conv(float(r[k])) if r.get(k) not in (None, "") else None
                prev["rows"].append(r)
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        prev["sweep"] = m.get("sweep", [])
        prev["kernels"] = m.get("kernels", "")
    except (OSError, ValueError, KeyError):
        pass
    return prev


def machine():
    """The machine as /proc/cpuinfo describes it. The model name alone does not
    tell CPU generations apart (a virtual machine may report just "AMD EPYC"
    for different ones); family, model, the widest vector instructions and the
    caches do, and the hypervisor flag says the cores may be shared."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    isa = next((name for name in ("avx512f", "avx2", "avx", "sse2") if name in flags), "unknown")
    caches = {}
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(index + "/level") as f:
                level = f.read().strip()
            with open(index + "/type") as f:
                kind = f.read().strip()
            with open(index + "/size") as f:
                size = f.read().strip()
        except OSError:
            continue
        if kind != "Instruction":
            caches[f"L{level}"] = size
    return {"cpu": info.get("model name", platform.processor()),
            "cpu_family": info.get("cpu family", ""), "cpu_model": info.get("model", ""),
            "vector_isa": isa, "caches_per_core": caches, "hypervisor": "hypervisor" in flags,
            "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform()}


def machine_text(m):
    """One line for the tables, e.g. "AMD EPYC (family 25, model 17, avx512f, L2 1024K, virtual), 2 cores"."""
    detail = ", ".join(x for x in (
        f"family {m['cpu_family']}, model {m['cpu_model']}" if m.get("cpu_family") else "",
        m.get("vector_isa", ""),
        f"L2 {m['caches_per_core']['L2']}" if m.get("caches_per_core", {}).get("L2") else "",
        "virtual" if m.get("hypervisor") else "") if x)
    return f"{m['cpu']}" + (f" ({detail})" if detail else "") + f", {m['cores']} cores"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="results/bench")
    ap.add_argument("--quick", action="store_true", help="problem 1 only, one run each, short sweep")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per run before a tool is stopped")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--problems", default="", help="comma-separated subset of the problem names")
    ap.add_argument("--blas-threads", type=int, default=1, help="OPENBLAS_NUM_THREADS of the Python peers")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-kernels", action="store_true")
    ap.add_argument("--exclude", default="", help="comma-separated tool:method pairs not to run, e.g. scipy:BDF")
    ap.add_argument("--only", default="", help="run only this tool (e.g. flowsense); the other tools' rows "
                    "are kept from the previous run in --out")
    ap.add_argument("--tolerances", default=str(RTOL),
                    help="comma-separated rtol values for a work-precision comparison of the flow solvers "
                         "(e.g. 1e-6,1e-8,1e-10; atol = 1e-4 rtol); the main table stays at rtol 1e-8")
    ap.add_argument("--wp-within", type=float, default=5.0,
                    help="--tolerances reruns only the flow solvers within this factor of the wall time at "
                         "rtol 1e-8 of the fastest one on their side, flowsense or peers (default 5)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every tool solved every problem (flow solvers: error vs the reference "
                         f"below {ACCURATE:g}; GD loops: the training-error target): the CTest smoke test")
    args = ap.parse_args()
    try:
        args.tolerances = sorted({float(x) for x in args.tolerances.split(",") if x.strip()} | {RTOL})
    except ValueError:
        ap.error(f"--tolerances: expected comma-separated numbers such as 1e-6,1e-8,1e-10, got '{args.tolerances}'")
    if any(not (0 < t < 1) for t in args.tolerances):
        ap.error(f"--tolerances: every rtol must lie in (0, 1), got {args.tolerances}")
    if args.quick:
        args.repeats = 1
        args.budget = min(args.budget, 60.0)
    os.makedirs(args.out, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_before = os.getloadavg()

    prep = [args.build + "/bench/bench_flows", "prepare", "--out", os.path.join(args.out, "data")]
    if args.quick:
        prep.append("--quick")
    subprocess.run(prep, check=True)
    with open(os.path.join(args.out, "data", "problems.json")) as f:
        problems = json.load(f)
    all_problems = list(problems)
    if args.problems:
        wanted = args.problems.split(",")
        problems = [p for p in problems if any(p.startswith(w) for w in wanted)]

    rows = []
    for name in problems:
        bench_problem(args, name, rows)
    # A partial re-run (--problems, --skip-sweep, --skip-kernels) keeps what the
    # previous run measured for the rest, so that one table holds every problem.
    previous = load_previous(args.out)
    if args.problems or args.only:
        kept = [r for r in previous["rows"] if r["problem"] not in problems
                or (args.only and r["tool"] != args.only)]
        rows = kept + rows
        order = {name: i for i, name in enumerate(all_problems)}
        tools = ["flowsense", "odeint", "cvode", "numpy", "scipy"]
        rows.sort(key=lambda r: (order.get(r["problem"], len(order)),  # stable: methods keep their order
                                 tools.index(r["tool"]) if r["tool"] in tools else len(tools)))
        problems = sorted(set(r["problem"] for r in rows), key=lambda n: order.get(n, len(order)))

    sweep = []
    if not args.skip_sweep:
        log("\n[bench] problem 5: the Example 1.1 sweep (2 ranks x 3 norms x 3 trials)")
        for threads in (1, 2):
            res = os.path.join(args.out, f"sweep_{threads}.json")
            load0 = os.getloadavg()[0]
            cmd = [args.build + "/bench/bench_flows", "sweep", "--out", os.path.join(args.out, f"sweep_{threads}"),
                   "--threads", str(threads), "--result", res] + (["--quick"] if args.quick else [])
            code, out, err, _ = run(cmd, timeout=3600)
            entry = {"threads": threads, "load": load0, "status": "failed" if code else "ok"}
            if os.path.exists(res):
                with open(res) as f:
                    r = json.load(f)
                entry.update(wall=r["wall"][0], runs=r["runs"], failed=r["failed"])
            log(f"  {threads} thread(s): {fmt(entry.get('wall'), '%.2f')} s (load {load0:.1f})")
            sweep.append(entry)

    if args.skip_sweep and previous["sweep"]:
        sweep = previous["sweep"]
    kernels = previous["kernels"] if args.skip_kernels else ""
    kb = args.build + "/bench/bench_kernels"
    if not args.skip_kernels and os.path.exists(kb):
        log("\n[bench] problem 6: bench_kernels")
        code, out, err, _ = run([kb] + (["--quick"] if args.quick else []), timeout=3600)
        with open(os.path.join(args.out, "kernels.txt"), "w") as f:
            f.write(out + err)
        kernels = ("its table (also in kernels.txt):\n\n" + out.strip()) if code == 0 \
            else f"bench_kernels failed (exit {code}): {err.strip()[-300:]}"
        print(out)

    summary = summarize(rows, problems)
    matched = matched_accuracy(rows, problems)
    manifest = {"command": " ".join(map(shlex.quote, sys.argv)), "started": started,
                "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": machine(), "load_before": load_before, "load_after": os.getloadavg(),
                "repeats": args.repeats, "budget_seconds": args.budget, "quick": args.quick,
                "rtol": RTOL, "atol": ATOL, "accurate_below": ACCURATE,
                "work_precision_rtols": args.tolerances, "work_precision_atol_per_rtol": ATOL_PER_RTOL,
                "work_precision_within": args.wp_within,
                "matched_accuracy_floor": MATCH_FLOOR,
                "python_peer_blas_threads": args.blas_threads, "problems": problems}
    try:
        manifest["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                                cwd=HERE).stdout.strip()
        import scipy
        manifest["machine"]["scipy"] = scipy.__version__
    except Exception:
        pass
    fields = ["problem", "tool", "method", "rtol", "status", "wall_median", "ratio_to_best_peer", "wall_runs", "repeats",
              "rhs", "jvp", "prec", "steps", "error", "train_rel", "load", "detail", "command"]
    for fname, data, cols in (("results.csv", rows, fields),
                              ("summary.csv", summary, list(summary[0].keys()) if summary else [])):
        tmp = os.path.join(args.out, fname + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(data)
        os.replace(tmp, os.path.join(args.out, fname))
    manifest["sweep"] = sweep
    manifest["kernels"] = kernels
    manifest["summary"] = summary
    manifest["matched_accuracy"] = matched
    text = table(rows, summary, sweep, kernels, manifest, matched)
    for fname, content in (("manifest.json", json.dumps(manifest, indent=2)), ("table.md", text + "\n")):
        tmp = os.path.join(args.out, fname + ".tmp")
        with open(tmp, "w") as f:
            f.write(content)
        os.replace(tmp, os.path.join(args.out, fname))
    log("\n" + text)
    subprocess.run([PY, os.path.join(HERE, "plot_bench.py"), "--results", os.path.join(args.out, "results.csv"),
                    "--out", os.path.join(args.out, "performance.png"),
                    "--work-precision", os.path.join(args.out, "work_precision.png")], check=False)
    if args.check:
        bad = [f"{r['problem']} {r['tool']} {r['method']}: {r['status']}, error {fmt(r['error'], '%.2e')}"
               for r in rows if at_main_setting(r) and not usable(r)]
        if bad:
            log("\n[bench] check failed: not every tool solved its problem:\n  " + "\n  ".join(bad))
            return 1
        log(f"\n[bench] check passed: {sum(map(at_main_setting, rows))} runs agree with the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
