#!/usr/bin/env python3
"""Draws Figure 5 of paper 000 from the output of build/figure_5.

usage: plot_figure_5.py DIR   (reads DIR/manifest.json and DIR/runs/*.csv, writes DIR/figure_5.png)
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
    header, data = rows[0], np.array([[float(x) for x in r] for r in rows[1:]])
    return {name: data[:, j] for j, name in enumerate(header)}


def main(out):
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    methods = manifest["methods"]
    colors = {"gd": "tab:red", "alg1": "tab:gray", "alg1_stop_at_r": "tab:blue", "alg1_stop_at_r_flow": "tab:green",
              "flow": "tab:orange"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for m in methods:
        runs = [r for r in manifest["runs"] if r["method"] == m["name"]]
        for k, r in enumerate(runs):
            t = read_csv(os.path.join(out, r["csv"]))
            it = np.maximum(t["iteration"], 1)
            for ax, col in zip(axes, ["training_error", "test_error"]):
                ax.plot(it, t[col], color=colors.get(m["name"], None), lw=1.2, alpha=0.85,
                        ls="--" if m["name"].endswith("flow") else "-",
                        label=m["label"] if k == 0 else None)
            if k == 0:
                for e in r["restarts"]:
                    axes[1].axvline(max(e["iteration"], 1), color=colors.get(m["name"]), lw=0.5, alpha=0.3)
    for ax, title in zip(axes, ["training error $\\|A(UU^T)-b\\|^2$", "test error $\\|UU^T-X^\\natural\\|_F^2$"]):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("iteration k")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    s = manifest["setting"]
    fig.suptitle("Paper 000, Figure 5: Algorithm 1 vs GD (d=%d, m=%d, eta=%g, W=%d, tau=%g, r0=%d, "
                 "||U0||=%g, %d seeds; faint lines: restarts of seed 1)"
                 % (s["d"], s["m"], s["eta"], s["W"], s["tau"], s["r0"], s["rho0"],
                    len({r["seed"] for r in manifest["runs"]})), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figure_5.png"), dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
