#!/usr/bin/python3
"""Draw Example 1.1 of paper 000 (Figures 1-3) from the output of its sweep.

usage: /usr/bin/python3 scripts/plot_example_1_1.py OUT_DIR [--output PNG]

OUT_DIR is the --out directory of `flowsense sweep examples/sweeps/example_1_1.json`
(or of `example_1_1`, which runs that sweep). Reads OUT_DIR/aggregate.csv (per
grid point and observation row: mean, std, mean -+ std/2 and the number of
trials of each column) and OUT_DIR/points.json (each grid point's init.norm,
init.rank and stepper, and how its trials ended), and writes
OUT_DIR/example_1_1.png (or PNG): one row per initialization norm (the paper's
Figures 1, 2, 3); in each row training and test error against the GD
iteration on log-log axes, GD and the flow side by side. As in the paper, the
solid line is the mean over the trials and the dotted lines are the mean -+
half a standard deviation; a curve stops where its first trial stopped (the
last row that every trial reached), with a marker for how that trial ended.
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

RANK_COLORS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c"]
MARKERS = {  # how a run ended -> marker at the end of the curve
    "target_reached": ("o", "training error below the target (machine precision)"),
    "stagnated": ("s", "stagnated (no more progress)"),
    "budget_exhausted": (">", "step budget used up"),
    "diverged": ("X", "diverged"),
    "completed": ("|", "reached the horizon K"),
}


def method_of(stepper):
    """'gd' for the papers' gradient descent, else the flow stepper's name."""
    return stepper.get("type", "?") if isinstance(stepper, dict) else str(stepper)


def read_points(path):
    with open(path) as f:
        return json.load(f)


def read_aggregate(path):
    rows = collections.defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows[int(row["point"])].append({k: float(v) for k, v in row.items()})
    return rows


def first_trial_end(point):
    """(termination, iteration) of the trial that ended first."""
    ends = point.get("final_iterations") or []
    if not ends:
        return None, None
    i = min(range(len(ends)), key=lambda j: ends[j])
    return point["final_terminations"][i], ends[i]


def draw(ax, rows, quantity, trials, color, label):
    rows = [r for r in rows if r[quantity + "_n"] == trials and r["iteration"] > 0]
    if not rows:
        return None
    k = [r["iteration"] for r in rows]
    mean = [r[quantity + "_mean"] for r in rows]
    ax.plot(k, mean, "-", color=color, lw=1.6, label=label)
    # mean - std/2 can be <= 0: log axes leave those points out.
    lower = [v if v > 0 else math.nan for v in (r[quantity + "_lo"] for r in rows)]
    ax.plot(k, [r[quantity + "_hi"] for r in rows], ":", color=color, lw=1.1)
    ax.plot(k, lower, ":", color=color, lw=1.1)
    return k[-1], mean[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="the --out directory of the Example 1.1 sweep")
    parser.add_argument("--output", help="PNG to write (default OUT_DIR/example_1_1.png)")
    args = parser.parse_args()
    paths = {name: os.path.join(args.out_dir, name) for name in ("aggregate.csv", "points.json", "sweep.json")}
    for path in paths.values():
        if not os.path.isfile(path):
            sys.exit("plot_example_1_1.py: %s not found (run the sweep with --out %s first)" % (path, args.out_dir))
    points = read_points(paths["points.json"])
    series = read_aggregate(paths["aggregate.csv"])
    with open(paths["sweep.json"]) as f:
        sweep = json.load(f)
    base = sweep["base"]
    trials = int(sweep["trials"])
    K = float(base["times"]["last"])
    target = float(base.get("stop", {}).get("training_error", {}).get("below", 0) or 0)

    by_key = {}  # (method, rank, norm) -> point
    for p in points:
        params = p["params"]
        key = (method_of(params.get("stepper", base.get("stepper"))), int(params.get("init.rank", base["init"]["rank"])),
               float(params.get("init.norm", base["init"]["norm"])))
        by_key[key] = p
    norms = sorted({k[2] for k in by_key})
    ranks = sorted({k[1] for k in by_key})
    methods = sorted({k[0] for k in by_key}, key=lambda m: (m != "gd", m))
    colors = {r: RANK_COLORS[i % len(RANK_COLORS)] for i, r in enumerate(ranks)}

    columns = [(q, m) for q in ("training_error", "test_error") for m in methods]
    floor = {"training_error": 1e-30, "test_error": 1e-32}
    fig, axes = plt.subplots(len(norms), len(columns), figsize=(4.3 * len(columns), 3.9 * len(norms)), squeeze=False)
    for i, norm in enumerate(norms):
        for j, (quantity, method) in enumerate(columns):
            ax = axes[i][j]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(1, K * 1.5)
            # The row's largest finite mean (all-diverged points excluded) sets the top.
            top = max([r[quantity + "_mean"] for key, p in by_key.items() if key[2] == norm
                       and set(p.get("terminations", {})) != {"diverged"}
                       for r in series.get(p["point"], []) if r["iteration"] >= 1
                       and math.isfinite(r[quantity + "_mean"])] + [1.0])
            ax.set_ylim(floor[quantity], top * 1e3)
            ax.grid(True, which="major", alpha=0.3)
            if quantity == "training_error" and target > 0:
                ax.axhline(target, color="gray", lw=0.8, ls="--")
            for rank in ranks:
                p = by_key.get((method, rank, norm))
                if p is None:
                    continue
                end = draw(ax, series.get(p["point"], []), quantity, trials, colors[rank], "rank(U0) = %d" % rank)
                how, _ = first_trial_end(p)
                lo, hi = ax.get_ylim()
                if end and how and lo <= end[1] <= hi:
                    marker = MARKERS.get(how, ("*", how))[0]
                    ax.plot([end[0]], [end[1]], marker, color=colors[rank], ms=8, mec="black", mew=0.6, zorder=5)
                terms = p.get("terminations", {})
                if set(terms) == {"diverged"}:
                    stops = "/".join("%.3g" % k for k in p["final_iterations"])
                    ax.text(0.5, 0.55 - 0.12 * ranks.index(rank), "rank %d: diverged at iterations %s" % (rank, stops),
                            transform=ax.transAxes, color=colors[rank], fontsize=10, ha="center", va="center")
                    if rank == ranks[-1]:
                        ax.text(0.5, 0.2, "(||U||_F > 1e8 or overflow; off this chart)", transform=ax.transAxes,
                                fontsize=9, ha="center", color="0.3")
                elif end is None or end[0] < 1:
                    final = p["final"].get(quantity, {}).get("mean", float("nan"))
                    ax.text(0.5, 0.55 - 0.16 * ranks.index(rank),
                            "rank %d: %s at k = %s\n(before k = 1); final %s" % (
                                rank, ", ".join(sorted(terms)), "/".join("%.2g" % k for k in p["final_iterations"]),
                                "%.2g" % final),
                            transform=ax.transAxes, color=colors[rank], fontsize=8, ha="center", va="center")
            name = "training error  ||A(UU^T) - b||^2" if quantity == "training_error" else "test error  ||UU^T - X||_F^2"
            title = "GD (3), eta = %g" % base["loss"]["learning_rate"] if method == "gd" else "flow (1), %s" % method
            ax.set_title("%s\n%s, ||U0||_F = %g" % (name, title, norm), fontsize=10)
            if i == len(norms) - 1:
                ax.set_xlabel("GD iteration k  (flow: t / (8 eta))")
            if j == 0:
                ax.set_ylabel("Figure %d of paper 000\n(||U0||_F = %g)" % (i + 1, norm))

    handles = [plt.Line2D([], [], color=colors[r], lw=1.6, label="rank(U0) = %d: mean over %d trials" % (r, trials))
               for r in ranks]
    handles.append(plt.Line2D([], [], color="gray", ls=":", lw=1.1, label="mean -+ half std"))
    if target > 0:
        handles.append(plt.Line2D([], [], color="gray", ls="--", lw=0.8, label="stop target for the training error"))
    used = {t for p in points for t in p.get("terminations", {})}
    for name, (marker, text) in MARKERS.items():
        if name in used:
            handles.append(plt.Line2D([], [], ls="", marker=marker, color="gray", mec="black", label="end: " + text))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle("Example 1.1 of paper 000: d = %d, rank(X) = %d, m = %d, eta = %g, %d trials; "
                 "a curve ends where its first trial ended"
                 % (base["dim"], base["planted"]["rank"], base["operator"]["measurements"],
                    base["loss"]["learning_rate"], trials), fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    output = args.output or os.path.join(args.out_dir, "example_1_1.png")
    tmp = output + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, output)  # atomic, like every other output
    print("plot_example_1_1.py: wrote %s" % output)


if __name__ == "__main__":
    main()
