#!/usr/bin/env python3
"""Draw results/bench/results.csv (bench/run_bench.py) as one panel per
problem: wall time of every tool and configuration on a log axis, flowsense
in blue, peers in grey, runs that did not solve the problem hatched.

    plot_bench.py [--results results/bench/results.csv] [--out results/bench/performance.png]
"""
import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ACCURATE = 1e-6


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
    a = ap.parse_args()
    with open(a.results) as f:
        rows = list(csv.DictReader(f))
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
