#!/usr/bin/env python3
"""Figures for the examples that reproduce the papers.

usage: plots.py outliers RESULT.json OUT.png
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def outliers(result, out):
    with open(result) as f:
        r = json.load(f)
    xs, ys, pf, a, b = r["x"], r["y"], r["prefactor"], r["alpha"], r["beta"]
    lo, hi = min(xs) * 1.15, max(xs) * 1.15
    grid = [lo + (hi - lo) * i / 400 for i in range(401)]
    dyt = lambda x: pf * math.tanh(a * x)  # noqa: E731
    isru = lambda x: pf * x / math.sqrt(b + x * x)  # noqa: E731
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    ax[0].plot(grid, [dyt(x) for x in grid], label="DyT fit, alpha = %.4f" % a)
    ax[0].plot(grid, [isru(x) for x in grid], label="DyISRU fit, beta = %.1f" % b)
    ax[0].scatter(xs, ys, color="k", s=14, zorder=3, label="LayerNorm on the outlier (18 points)")
    for s in (1, -1):
        ax[0].axhline(s * pf, color="gray", ls="--", lw=0.8)
    ax[0].text(lo, pf * 1.02, "+-sqrt(C-1) = %.2f" % pf, color="gray", fontsize=8)
    ax[0].set(title="LayerNorm's output for an outlier and two element-wise fits (C = %d)" % r["C"],
              xlabel="outlier input x", ylabel="normalized output y")
    ax[0].legend(fontsize=8)
    ax[0].grid(alpha=0.3)
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ax[1].plot([xs[i] for i in order], [dyt(xs[i]) - ys[i] for i in order], "o-",
               label="DyT (mean |r| %.2e)" % r["mar_dyt"])
    ax[1].plot([xs[i] for i in order], [isru(xs[i]) - ys[i] for i in order], "o-",
               label="DyISRU (mean |r| %.2e)" % r["mar_dyisru"])
    ax[1].axhline(0, color="gray", lw=0.8)
    ax[1].set(title="residuals f(x) - y", xlabel="outlier input x", ylabel="residual")
    ax[1].legend(fontsize=8)
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "outliers":
        sys.exit(__doc__)
    outliers(sys.argv[2], sys.argv[3])
