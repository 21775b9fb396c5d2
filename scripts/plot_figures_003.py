#!/usr/bin/env python3
"""Draws paper 003's Figure 1 or 2 from the output of build/figures_003.

usage: plot_figures_003.py DIR [DIR2 ...] [--output PNG]
  reads DIR/manifest.json and DIR/runs/*.csv (of every DIR given: runs of one
  figure made by several invocations, e.g. with --m 1000 and --m 2000,5000, are
  drawn together) and writes DIR/figure.png or PNG.
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


def main(dirs, output):
    runs, ms, alphas = [], [], []
    for d in dirs:
        man = json.load(open(os.path.join(d, "manifest.json")))
        for run in man["runs"]:
            run["csv"] = os.path.join(d, run["csv"])
            runs.append(run)
        ms += [m for m in man["setting"]["ms"] if m not in ms]
        alphas += [a for a in man["setting"]["alphas"] if a not in alphas]
    ms.sort()
    alphas.sort(reverse=True)
    s = man["setting"]
    rs = s["r_star"]
    fig, axes = plt.subplots(len(ms), len(alphas), figsize=(4 * len(alphas), 3.2 * len(ms)), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, rs))
    for run in runs:
        i, j = ms.index(run["m"]), alphas.index(run["alpha"])
        ax = axes[i][j]
        t = read_csv(run["csv"])
        it = np.maximum(t["iteration"], 1)
        flow = run["method"].startswith("flow")
        if run["summary"]["termination"] == "diverged":
            ax.text(0.5, 0.12 if flow else 0.05, "%s diverged at iteration %d" % ("flow" if flow else "GD", t["iteration"][-1]),
                    transform=ax.transAxes, ha="center", fontsize=8, color="darkred")
            continue
        for k in range(rs):
            ax.plot(it, t["E_%d" % (k + 1)], color=colors[k], ls="--" if flow else "-", lw=1.3,
                    )
            if not flow:
                v = run["visits"][k]
                ax.plot(max(v["iteration"], 1), v["min_E"], "v", color=colors[k], ms=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-9, 1e3)
        ax.set_title("m = %d, $\\alpha$ = %g" % (run["m"], run["alpha"]), fontsize=9)
        ax.grid(True, alpha=0.3)
        if i == len(ms) - 1:
            ax.set_xlabel("GD iteration t")
        if j == 0:
            ax.set_ylabel("relative error $E_s(t)$")
    drawn = {(ms.index(r["m"]), alphas.index(r["alpha"])) for r in runs}
    for i in range(len(ms)):
        for j in range(len(alphas)):
            if (i, j) not in drawn:
                axes[i][j].set_axis_off()
                axes[i][j].text(0.5, 0.5, "m = %d, $\\alpha$ = %g: not run" % (ms[i], alphas[j]),
                                transform=axes[i][j].transAxes, ha="center", fontsize=9, color="0.4")
    handles = [plt.Line2D([], [], color=colors[k], lw=1.3, label="$E_%d$" % (k + 1)) for k in range(rs)]
    handles += [plt.Line2D([], [], color="gray", lw=1.3, label="GD"),
                plt.Line2D([], [], color="gray", lw=1.3, ls="--", label="flow (dopri5)"),
                plt.Line2D([], [], color="gray", ls="", marker="v", label="$T_s$ (GD)")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("%s: d=%d, r*=%d, r=%d, $\\mu$=%g (solid: GD; dashed: flow; triangles: $T_s$ = argmin $E_s$)"
                 % (man["figure"], s["d"], rs, s["r"], s["mu"]), fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(output or os.path.join(dirs[0], "figure.png"), dpi=100)


if __name__ == "__main__":
    args, output = sys.argv[1:], None
    if "--output" in args:
        k = args.index("--output")
        output = args[k + 1] if k + 1 < len(args) else sys.exit(__doc__)
        del args[k:k + 2]
    if not args:
        sys.exit(__doc__)
    main(args, output)
