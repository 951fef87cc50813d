#!/usr/bin/env python3
"""Draws the figures of a `normgrad compare` report folder from its JSON Lines files.

usage: plot_report.py REPORT_DIR
Reads REPORT_DIR/summary.json and REPORT_DIR/<norm>/{metrics,probes}.jsonl; writes PNGs
next to summary.json. Needs only matplotlib (Debian: python3-matplotlib).
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


FLOOR = 1e-12


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ema(values, k=0.9):
    out, s = [], None
    for v in values:
        s = v if s is None else k * s + (1 - k) * v
        out.append(s)
    return out


def main(d):
    with open(os.path.join(d, "summary.json")) as f:
        kinds = [e["norm"] for e in json.load(f)]
    metrics = {k: read_jsonl(os.path.join(d, k, "metrics.jsonl")) for k in kinds}
    probes = {k: read_jsonl(os.path.join(d, k, "probes.jsonl")) for k in kinds}
    colors = {k: plt.cm.tab10(i) for i, k in enumerate(kinds)}

    # 1. loss curves
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for k in kinds:
        m = metrics[k]
        ax[0].plot([r["step"] for r in m], ema([r["loss"] for r in m]), color=colors[k], label=k)
        v = [r for r in m if "val_loss" in r]
        ax[1].plot([r["step"] for r in v], [r["val_loss"] for r in v], "o-", color=colors[k], label=k)
    ax[0].set(title="training loss (EMA 0.9)", xlabel="step", ylabel="cross-entropy (nats/char)")
    ax[1].set(title="validation loss", xlabel="step", ylabel="cross-entropy (nats/char)")
    for a in ax:
        a.legend()
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "loss_curves.png"), dpi=110)
    plt.close(fig)

    # 2. gradient reaching each block's residual stream, one panel per kind, same scale
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.6 * len(kinds), 3.8), sharey=True, squeeze=False)
    for a, k in zip(axes[0], kinds):
        recs = [p for p in probes[k] if all(g is not None for g in p["residual_grad"])]
        for i, p in enumerate(recs):
            c = plt.cm.viridis(i / max(1, len(recs) - 1))
            vals = [max(g, FLOOR) for g in p["residual_grad"]]  # exact zeros drawn at the floor
            a.plot(range(len(vals)), vals, "o-", color=c, ms=3,
                   label="step %d" % p["step"] if i in (0, len(recs) - 1) else None)
        a.set(title=k, xlabel="block", yscale="log")
        a.set_xticks(range(len(recs[-1]["residual_grad"]) if recs else 0))
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    axes[0][0].set_ylabel("|dL/d residual| (L2 norm)")
    fig.suptitle("gradient reaching each block's residual stream over training "
                 "(dark: early, yellow: late; exact zeros drawn at %g)" % FLOOR)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "grad_flow.png"), dpi=110)
    plt.close(fig)

    # 3. alpha vs 1/std for the element-wise norms with an alpha
    alpha_kinds = [k for k in kinds if probes[k] and any("alpha" in n for n in probes[k][-1]["norms"])]
    if alpha_kinds:
        fig, axes = plt.subplots(len(alpha_kinds), 3, figsize=(15, 4 * len(alpha_kinds)), squeeze=False)
        for row, k in zip(axes, alpha_kinds):
            names = [n["name"] for n in probes[k][-1]["norms"]]
            steps = [p["step"] for p in probes[k]]
            for i, name in enumerate(names):
                c = plt.cm.plasma(i / max(1, len(names) - 1))
                row[0].plot(steps, [p["norms"][i]["alpha"] for p in probes[k]], color=c, label=name)
                row[1].plot(steps, [p["norms"][i]["inv_std"] for p in probes[k]], color=c, label=name)
            xs = [n["inv_std"] for n in probes[k][-1]["norms"]]
            ys = [n["alpha"] for n in probes[k][-1]["norms"]]
            row[2].scatter(xs, ys, c=[plt.cm.plasma(i / max(1, len(xs) - 1)) for i in range(len(xs))])
            r = correlation(xs, ys)
            row[0].set(title="%s: alpha per layer" % k, xlabel="step", ylabel="alpha")
            row[1].set(title="%s: 1/std of the layer's input" % k, xlabel="step", ylabel="1/std")
            row[2].set(title="%s at the end: alpha vs 1/std (Pearson r = %.2f)" % (k, r),
                       xlabel="1/std of input", ylabel="alpha")
            row[0].legend(fontsize=6)
            for a in row:
                a.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(d, "alpha_vs_inv_std.png"), dpi=110)
        plt.close(fig)

    # 4. DyT saturation over training, pooled over layers
    sat_kinds = [k for k in kinds if probes[k] and "saturation" in probes[k][-1]["norms"][0]]
    if sat_kinds:
        fig, axes = plt.subplots(1, len(sat_kinds), figsize=(6 * len(sat_kinds), 4), squeeze=False)
        for a, k in zip(axes[0], sat_kinds):
            for t in sorted(probes[k][-1]["norms"][0]["saturation"], key=float):
                vals = [sum(n["saturation"][t] for n in p["norms"]) / len(p["norms"]) for p in probes[k]]
                a.plot([p["step"] for p in probes[k]], vals, label="|alpha x| > %s" % t)
            a.set(title="%s: fraction of saturated inputs (mean over layers)" % k, xlabel="step",
                  ylabel="fraction of elements")
            a.legend(fontsize=8)
            a.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(d, "saturation.png"), dpi=110)
        plt.close(fig)

    # 5. input vs output-before-affine of early and deep norm layers at the end
    fig, axes = plt.subplots(len(kinds), 3, figsize=(12, 3.4 * len(kinds)), squeeze=False)
    for row, k in zip(axes, kinds):
        if not probes[k]:
            continue
        norms = probes[k][-1]["norms"]
        picks = [norms[0], norms[len(norms) // 2], norms[-1]]
        for a, n in zip(row, picks):
            a.scatter(n["scatter_x"], n["scatter_y"], s=4, alpha=0.5, color=colors[k])
            a.set(title="%s: %s" % (k, n["name"].replace("transformer.", "")), xlabel="input x",
                  ylabel="output before affine")
            a.grid(alpha=0.3)
    fig.suptitle("norm layer input vs output (random elements, final step): early, middle, last layer")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "scatter.png"), dpi=110)
    plt.close(fig)

    # 6. Jacobian top singular value per layer at the end
    fig, a = plt.subplots(figsize=(8, 4))
    for k in kinds:
        if not probes[k]:
            continue
        norms = probes[k][-1]["norms"]
        vals = [max(FLOOR, sum(n["jacobian_sigma_max"]) / max(1, len(n["jacobian_sigma_max"])))
                for n in norms]
        a.plot(range(len(vals)), vals, "o-", color=colors[k], label=k)
    a.set(title="largest singular value of each norm layer's Jacobian (final step, mean of 4 tokens)",
          xlabel="norm layer (ln_1, ln_2 of each block, then ln_f)", ylabel="sigma_max", yscale="log")
    a.legend()
    a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "jacobian.png"), dpi=110)
    plt.close(fig)


def correlation(xs, ys):
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
