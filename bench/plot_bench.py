#!/usr/bin/env python3
"""Draw results/bench/results.csv (bench/run_bench.py) as one panel per
problem: wall time of every tool and configuration on a log axis, flowsense
in blue, peers in grey, runs that did not solve the problem hatched (the runs
at rtol 1e-8). With --work-precision, also the work-precision diagram of the
flow solvers run at several tolerances (--tolerances): error against the
reference versus wall time, one line per tool and method.

    plot_bench.py [--results results/bench/results.csv] [--out results/bench/performance.png]
                  [--work-precision results/bench/work_precision.png]
"""
import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ACCURATE = 1e-6
RTOL = 1e-8


def at_main_setting(r):
    return r.get("rtol") in (None, "") or float(r["rtol"]) == RTOL


def work_precision(rows, out):
    """Error vs wall time of every flow solver that ran at more than one rtol."""
    flows = [r for r in rows if r.get("rtol") not in (None, "") and solved(r)]
    problems = [p for p in dict.fromkeys(r["problem"] for r in flows)
                if len({r["rtol"] for r in flows if r["problem"] == p}) > 1]
    if not problems:
        print("work precision: no flow solver ran at more than one tolerance; nothing drawn")
        return
    fig, axes = plt.subplots(1, len(problems), figsize=(4.6 * len(problems), 4.8))
    if len(problems) == 1:
        axes = [axes]
    peer_styles = {("cvode", "BDF+GMRES"): ("#d62728", "s"), ("odeint", "dopri5"): ("#8c564b", "v"),
                   ("scipy", "RK45"): ("#bdbdbd", "^"), ("scipy", "DOP853"): ("#636363", "^"),
                   ("scipy", "LSODA"): ("#bcbd22", "D"), ("scipy", "BDF"): ("#9467bd", "s")}
    ours_markers = "osDPX*hv^<>"
    for ax, name in zip(axes, problems):
        pr = [r for r in flows if r["problem"] == name]
        lines = list(dict.fromkeys((r["tool"], r["method"]) for r in pr))
        n_ours = sum(1 for t, _ in lines if t == "flowsense")
        blues = plt.cm.Blues([0.45 + 0.5 * i / max(1, n_ours - 1) for i in range(max(1, n_ours))])
        k = 0
        for tool, method in lines:
            pts = sorted(((float(r["error"]), float(r["wall_median"]), float(r["rtol"]))
                          for r in pr if (r["tool"], r["method"]) == (tool, method)), key=lambda p: p[2])
            if tool == "flowsense":
                color, marker, label = blues[k], ours_markers[k % len(ours_markers)], method
                k += 1
            else:
                color, marker = peer_styles.get((tool, method), ("#9e9e9e", "x"))
                label = f"{tool} {method}"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=label,
                    linewidth=1.4 if tool == "flowsense" else 1.0, linestyle="-" if tool == "flowsense" else "--",
                    markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("error vs reference (relative, X(T))", fontsize=8)
        ax.set_ylabel("wall s (median)", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(which="major", linewidth=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle("work precision: one line per solver over its tolerances (atol = 1e-4 rtol)\n"
                 "down and left is better; flowsense solid blue, peers dashed", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def solved(r):
    if r["status"] != "ok" or not r["wall_median"]:
        return False
    if r["tool"] == "numpy" or r["method"].startswith("gd"):
        return True
    return r["error"] not in ("", None) and float(r["error"]) <= ACCURATE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results/bench/results.csv")
    ap.add_argument("--out", default="results/bench/performance.png")
    ap.add_argument("--work-precision", default="", help="also draw the work-precision diagram to this file")
    a = ap.parse_args()
    with open(a.results) as f:
        all_rows = list(csv.DictReader(f))
    if a.work_precision:
        work_precision(all_rows, a.work_precision)
    rows = [r for r in all_rows if at_main_setting(r)]
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    fig, axes = plt.subplots(1, len(problems), figsize=(3.2 * len(problems), 5.2), sharex=False)
    if len(problems) == 1:
        axes = [axes]
    for ax, name in zip(axes, problems):
        pr = [r for r in rows if r["problem"] == name and r["wall_median"]]
        labels, walls, colors, hatches = [], [], [], []
        for r in pr:
            label = f"{r['tool']} {r['method']}" if r["tool"] != "flowsense" else r["method"]
            if not solved(r):
                label += f" ({r['status'] if r['status'] != 'ok' else 'inaccurate'})"
            labels.append(label)
            walls.append(float(r["wall_median"]))
            colors.append("#1f77b4" if r["tool"] == "flowsense" else "#9e9e9e")
            hatches.append("" if solved(r) else "///")
        y = range(len(pr))
        bars = ax.barh(list(y), walls, color=colors, edgecolor="black", linewidth=0.4)
        for b, h in zip(bars, hatches):
            b.set_hatch(h)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(min(walls) / 2, max(walls) * 2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("wall s (median)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", which="major", linewidth=0.3)
    fig.suptitle("flowsense (blue) and peers (grey) on the same files; hatched: timeout, diverged "
                 "or not accurate", fontsize=9)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
