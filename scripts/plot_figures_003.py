#!/usr/bin/env python3
"""Draws paper 003's Figure 1 or 2 from the output of build/figures_003.

usage: plot_figures_003.py DIR   (reads DIR/manifest.json and DIR/runs/*.csv, writes DIR/figure.png)
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    data = np.array([[float(x) for x in r] for r in rows[1:]])
    return {name: data[:, j] for j, name in enumerate(rows[0])}


def main(out):
    man = json.load(open(os.path.join(out, "manifest.json")))
    s = man["setting"]
    ms, alphas, rs = s["ms"], s["alphas"], s["r_star"]
    fig, axes = plt.subplots(len(ms), len(alphas), figsize=(4 * len(alphas), 3.2 * len(ms)), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, rs))
    for run in man["runs"]:
        i, j = ms.index(run["m"]), alphas.index(run["alpha"])
        ax = axes[i][j]
        t = read_csv(os.path.join(out, run["csv"]))
        it = np.maximum(t["iteration"], 1)
        flow = run["method"].startswith("flow")
        for k in range(rs):
            ax.plot(it, t["E_%d" % (k + 1)], color=colors[k], ls="--" if flow else "-", lw=1.3,
                    label=("$E_%d$" % (k + 1)) if not flow else None)
            if not flow:
                v = run["visits"][k]
                ax.plot(max(v["iteration"], 1), v["min_E"], "v", color=colors[k], ms=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 1e3)
        ax.set_title("m = %d, $\\alpha$ = %g" % (run["m"], run["alpha"]), fontsize=9)
        ax.grid(True, alpha=0.3)
        if i == len(ms) - 1:
            ax.set_xlabel("GD iteration t")
        if j == 0:
            ax.set_ylabel("relative error $E_s(t)$")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("%s: d=%d, r*=%d, r=%d, $\\mu$=%g (solid: GD; dashed: flow; triangles: $T_s$ = argmin $E_s$)"
                 % (man["figure"], s["d"], rs, s["r"], s["mu"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure.png"), dpi=100)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
