#!/usr/bin/env python3
"""Figures for the examples that reproduce the papers.

usage: plots.py outliers RESULT.json OUT.png
       plots.py ln_mapping RESULT.json OUT.png
       plots.py spectrum RESULT.json OUT.png
       plots.py collapse RESULT.json OUT.png
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


def ln_mapping(result, out):
    with open(result) as f:
        r = json.load(f)
    sets = [("single_spikes", "16 tokens x 16 channels, 16 elements x20"),
            ("outlier_channels", "256 tokens x 64 channels, 4 outlier channels")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    for row, (key, title) in zip(axes, sets):
        d = r[key]
        T, C = d["tokens"], d["channels"]
        xs, ys = d["x"], d["y"]
        tok = [i // C for i in range(len(xs))]
        ch = [i % C for i in range(len(xs))]
        lo, hi = min(xs), max(xs)
        grid = [lo + (hi - lo) * i / 300 for i in range(301)]
        fit = [d["a"] * math.tanh(d["alpha"] * x) for x in grid]
        for a, colour, name in zip(row, (None, tok, ch), ("all points", "coloured by token", "coloured by channel")):
            if colour is None:
                a.scatter(xs, ys, s=6, color="k", alpha=0.6)
            else:
                a.scatter(xs, ys, s=6, c=colour, cmap="tab20" if len(set(colour)) <= 20 else "viridis")
            a.plot(grid, fit, color="red", lw=1.2, label="%.3f tanh(%.4f x)" % (d["a"], d["alpha"]))
            a.set(xlabel="LayerNorm input x", ylabel="output before affine")
            a.set_title("%s\n%s" % (title, name), fontsize=10)
            a.legend(fontsize=8)
            a.grid(alpha=0.3)
    fig.suptitle("LayerNorm is linear per token; pooled over tokens its input-output map is S-shaped")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def spectrum(result, out):
    with open(result) as f:
        r = json.load(f)
    fig, a = plt.subplots(figsize=(8, 4.5))
    for k, sv in r.items():
        a.plot(range(1, len(sv) + 1), [max(v, 1e-12) for v in sv], "o-", ms=3, label=k)
    a.set(title="Jacobian spectrum of one norm layer (block 6, ln_1) at one token, after training",
          xlabel="singular value index (sorted)", ylabel="singular value (zeros drawn at 1e-12)",
          yscale="log")
    a.legend()
    a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def collapse(result, out):
    with open(result) as f:
        r = json.load(f)
    fig, ax = plt.subplots(1, 3, figsize=(15, 5.2))
    positive = [g for v in r.values() for g in v["relative_grad_block0"] if g and g > 0]
    floor = min(positive) / 10 if positive else 1e-12  # exact zeros drawn there, as x
    for spec, v in r.items():
        line = ax[0].plot(v["steps"], v["lnf_input_rms"], "o-", ms=2.5, label=v["what"])[0]
        sat = [s if s is not None else float("nan") for s in v["lnf_saturation"]]
        ax[1].plot(v["steps"], sat, "o-", ms=2.5, color=line.get_color())
        rel = [g if g and g > 0 else floor for g in v["relative_grad_block0"]]
        ax[2].plot(v["steps"], rel, "-", color=line.get_color())
        zeros = [(s, floor) for s, g in zip(v["steps"], v["relative_grad_block0"]) if g == 0]
        if zeros:
            ax[2].plot(*zip(*zeros), "x", ms=6, color=line.get_color())
    ax[0].set(title="ln_f's input (the last block's output): RMS", xlabel="step", yscale="log")
    ax[1].set(title="ln_f: share of inputs with |alpha x| > 2 (DyT at ln_f)", xlabel="step",
              ylim=(-0.03, 1.03))
    ax[2].set(title="relative gradient |dL/dx| RMS(x), block 0 (x: exactly 0)", xlabel="step",
              yscale="log")
    for a in ax:
        a.grid(alpha=0.3)
    fig.legend(*ax[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    fig.suptitle("Why plain DyT stays at the unigram level: its final norm saturates and no "
                 "gradient reaches the blocks (seed 1337, lr 1e-3)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    figures = {"outliers": outliers, "ln_mapping": ln_mapping, "spectrum": spectrum,
               "collapse": collapse}
    if len(sys.argv) != 4 or sys.argv[1] not in figures:
        sys.exit(__doc__)
    figures[sys.argv[1]](sys.argv[2], sys.argv[3])
