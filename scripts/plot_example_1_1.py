#!/usr/bin/python3
"""Draw Example 1.1 of paper 000 (Figures 1-3) from example_1_1's outputs.

usage: /usr/bin/python3 scripts/plot_example_1_1.py OUT_DIR [--output PNG]

Reads OUT_DIR/aggregate.csv (mean and half a standard deviation over the
trials, per method, initialization rank and norm, and iteration) and
OUT_DIR/manifest.json (how each run ended), and writes OUT_DIR/example_1_1.png
(or PNG): one row per initialization norm (the paper's Figures 1, 2, 3), and
training and test error against the GD iteration on log-log axes, GD and the
flow side by side. As in the paper, the solid line is the mean over the
trials and the dotted lines are the mean +- half a standard deviation; a curve
stops where its first trial stopped.
"""
import argparse
import collections
import csv
import json
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.exit("plot_example_1_1.py: needs matplotlib (apt-get install python3-matplotlib): %s" % error)

COLORS = {2: "#1f5fbf", 30: "#d9480f"}
MARKERS = {  # how a run ended -> marker at the end of the curve
    "target_reached": ("o", "training error below the target (machine precision)"),
    "stagnated": ("s", "stagnated (the flow's accuracy floor)"),
    "budget_exhausted": (">", "step budget: explicit stepper pinned by stiffness"),
    "diverged": ("X", "diverged"),
    "completed": ("|", "reached the horizon K"),
}
METHOD_TITLE = {"gd": "GD (3), eta = 1e-4", "flow": "flow (1), dopri5"}


def read_aggregate(path):
    series = collections.defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["method"], int(row["init_rank"]), float(row["init_norm"]))
            series[key].append({k: (v if k == "method" else float(v)) for k, v in row.items()})
    return series


def terminations(manifest):
    """(method, rank, norm) -> list of terminations of its trials."""
    out = collections.defaultdict(list)
    for run in manifest["runs"]:
        key = (run["method"], int(run["init_rank"]), float(run["init_norm"]))
        out[key].append((run["summary"]["termination"], run["final_iteration"]))
    return out


def draw(ax, rows, quantity, trials, color, label):
    rows = [r for r in rows if r["trials"] == trials and r["iteration"] > 0]
    if not rows:
        return None
    k = [r["iteration"] for r in rows]
    mean = [r[quantity + "_mean"] for r in rows]
    half = [r[quantity + "_half_std"] for r in rows]
    ax.plot(k, mean, "-", color=color, lw=1.6, label=label)
    # mean - half std can be <= 0: log axes leave those points out.
    lower = [m - h if m - h > 0 else math.nan for m, h in zip(mean, half)]
    ax.plot(k, [m + h for m, h in zip(mean, half)], ":", color=color, lw=1.1)
    ax.plot(k, lower, ":", color=color, lw=1.1)
    return k[-1], mean[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="the --out directory of example_1_1")
    parser.add_argument("--output", help="PNG to write (default OUT_DIR/example_1_1.png)")
    args = parser.parse_args()
    aggregate_path = os.path.join(args.out_dir, "aggregate.csv")
    manifest_path = os.path.join(args.out_dir, "manifest.json")
    for path in (aggregate_path, manifest_path):
        if not os.path.isfile(path):
            sys.exit("plot_example_1_1.py: %s not found (run example_1_1 --out %s first)"
                     % (path, args.out_dir))
    series = read_aggregate(aggregate_path)
    with open(manifest_path) as f:
        manifest = json.load(f)
    config = manifest["config"]
    ends = terminations(manifest)
    trials = int(config["init"]["trials"])
    norms = sorted({key[2] for key in series})
    ranks = sorted({key[1] for key in series})
    K = float(config["horizon_iterations"])

    columns = [("training_error", "gd"), ("training_error", "flow"), ("test_error", "gd"),
               ("test_error", "flow")]
    floor = {"training_error": 1e-30, "test_error": 1e-32}
    fig, axes = plt.subplots(len(norms), 4, figsize=(17, 3.9 * len(norms)), squeeze=False)
    for i, norm in enumerate(norms):
        # Sub-iteration flow times only matter where the flow moves before k = 1.
        left = 1e-5 if norm > 1 else 1.0
        for j, (quantity, method) in enumerate(columns):
            ax = axes[i][j]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(left, K * 1.5)
            # The row's largest finite mean (diverged GD excluded) sets the top.
            top = max([r[quantity + "_mean"] for key, rows in series.items() if key[2] == norm
                       for r in rows if r["iteration"] >= left and
                       not all(t == "diverged" for t, _ in ends.get(key, []))] + [1.0])
            ax.set_ylim(floor[quantity], top * 1e3)
            ax.grid(True, which="major", alpha=0.3)
            if quantity == "training_error":
                target = float(manifest["config"].get("target_training_error", 0) or 0)
                if target > 0:
                    ax.axhline(target, color="gray", lw=0.8, ls="--")
            for rank in ranks:
                key = (method, rank, norm)
                end = draw(ax, series.get(key, []), quantity, trials, COLORS[rank],
                           "rank(U0) = %d" % rank)
                outcome = [t for t, _ in ends.get(key, [])]
                lo, hi = ax.get_ylim()
                if end and outcome and lo <= end[1] <= hi:
                    first = min(ends[key], key=lambda e: e[1])[0]  # the trial that stopped first
                    marker = MARKERS.get(first, ("*", first))[0]
                    ax.plot([end[0]], [end[1]], marker, color=COLORS[rank], ms=8, mec="black",
                            mew=0.6, zorder=5)
                if outcome and all(t == "diverged" for t in outcome):
                    stops = "/".join("%d" % k for _, k in ends[key])
                    ax.text(0.5, 0.55 - 0.12 * ranks.index(rank),
                            "rank %d: diverged at iterations %s" % (rank, stops),
                            transform=ax.transAxes, color=COLORS[rank], fontsize=10,
                            ha="center", va="center")
                    if rank == ranks[-1]:
                        ax.text(0.5, 0.2, "(||U||_F > 1e8 or overflow; off this chart)",
                                transform=ax.transAxes, fontsize=9, ha="center", color="0.3")
            name = "training error  ||A(UU^T) - b||^2" if quantity == "training_error" \
                else "test error  ||UU^T - X||_F^2"
            ax.set_title("%s\n%s, ||U0||_F = %g" % (name, METHOD_TITLE[method], norm), fontsize=10)
            if i == len(norms) - 1:
                ax.set_xlabel("GD iteration k  (flow: t / (8 eta))")
            if j == 0:
                ax.set_ylabel("Figure %d of paper 000\n(||U0||_F = %g)" % (i + 1, norm))

    handles = [plt.Line2D([], [], color=COLORS[r], lw=1.6, label="rank(U0) = %d: mean over %d trials"
                          % (r, trials)) for r in ranks]
    handles.append(plt.Line2D([], [], color="gray", ls=":", lw=1.1, label="mean +- half std"))
    handles.append(plt.Line2D([], [], color="gray", ls="--", lw=0.8,
                              label="stop target for the training error"))
    used = {t for v in ends.values() for t, _ in v}
    for name, (marker, text) in MARKERS.items():
        if name in used:
            handles.append(plt.Line2D([], [], ls="", marker=marker, color="gray", mec="black",
                                      label="end: " + text))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle("Example 1.1 of paper 000: d = %d, rank(X) = 2, m = %d, eta = %g, %d trials; "
                 "a curve ends where its first trial ended"
                 % (config["d"], config["operator"]["m"], config["eta"], trials), fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    output = args.output or os.path.join(args.out_dir, "example_1_1.png")
    tmp = output + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, output)  # atomic, like every other output
    print("plot_example_1_1.py: wrote %s" % output)


if __name__ == "__main__":
    main()
