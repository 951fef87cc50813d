#!/usr/bin/env python3
"""Draws the figures of a `normgrad compare` report folder from its JSON Lines files.

usage: plot_report.py FOLDER [RUNS_DIR]
Reads FOLDER/summary.json and each run's metrics.jsonl / probes.jsonl (paths in the summary,
relative to RUNS_DIR, by default FOLDER); writes PNGs next to summary.json (compare writes
its report into a staging folder inside the report folder, then moves it into place). Needs only matplotlib (python3-matplotlib).
Every figure gives each variant the same colour, in the summary's order. Per-run figures
(gradients, scalars, saturation, scatter) show each variant's first seed.
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_list import FigureList  # noqa: E402


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def ema(values, k=0.9):
    out, s = [], None
    for v in values:
        s = v if s is None else k * s + (1 - k) * v
        out.append(s)
    return out


FOOTER = ""
FIGURES = None  # FigureList of the folder being drawn


def save(fig, d, name):
    # every figure names what made it: the variants are the legend/titles (kind:flags), the
    # shared settings are here, each variant's exact formula and inits are in report.md
    fig.text(0.5, -0.01, FOOTER, ha="center", va="top", fontsize=7, wrap=True)
    FIGURES.save(fig, name, dpi=110, bbox_inches="tight")
    plt.close(fig)


def footer(summary):
    # the settings every run shares (compare leaves out what a variant or length sets)
    cfg = dict(kv.split("=", 1) for kv in summary.get("shared_settings", summary["config"]).split()
               if "=" in kv)
    keys = ("n_layer", "n_head", "n_embd", "block_size", "batch", "max_steps", "lr", "warmup",
            "min_lr", "weight_decay", "grad_clip")
    seed = int(cfg.get("seed", "0"))
    lengths = summary.get("steps", [])
    if len(lengths) > 1:  # a ladder: every length, and which one the per-run figures show
        cfg["max_steps"] = "%s (per-run figures: %d)" % (",".join(str(x) for x in lengths), lengths[-1])
    return ("shared settings: " + " ".join("%s=%s" % (k, cfg[k]) for k in keys if k in cfg) +
            "; seeds %d..%d; per-variant formulas and initial values: report.md" %
            (seed, seed + summary["seeds"] - 1))


def short(name):
    return name.replace("transformer.", "").replace(".h.", "h.")


def main(d, runs_dir=None):
    runs_dir = runs_dir or d
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    global FOOTER, FIGURES
    FOOTER = footer(summary)
    FIGURES = FigureList(d)
    variants = summary["variants"]
    unigram = summary["unigram_val_loss"]
    specs = [v["spec"] for v in variants]
    colors = {s: plt.cm.tab10(i % 10) for i, s in enumerate(specs)}
    runs = {v["spec"]: v["runs"] for v in variants}
    metrics = {s: [read_jsonl(os.path.join(runs_dir, r["dir"], "metrics.jsonl")) for r in runs[s]]
               for s in specs}
    first_probes = {s: read_jsonl(os.path.join(runs_dir, runs[s][0]["dir"], "probes.jsonl")) if runs[s] else []
                    for s in specs}

    # 0. with a schedule ladder: each variant's whole-split val loss and its paired gap to the
    # longest schedule's best, per length (the numbers of the report's rule 6)
    ladder = summary.get("ladder", [])
    if len(ladder) > 1:
        fig, ax = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
        lengths = [l["steps"] for l in ladder]
        best = ladder[-1]["best"]
        def finished(runs):  # seed -> whole-split val of the runs that finished
            return {r["seed"]: r["val_loss"] for r in runs
                    if r["label"] in ("learning", "under-trained", "collapsed") and r["val_loss"] is not None}
        for i, s in enumerate(specs):
            # JSON null (no finished run at a length) is left out, not plotted as a value
            pts = [(l["steps"], l["variants"][i]["val_loss_mean"], l["variants"][i]["val_loss_sd"] or 0)
                   for l in ladder if l["variants"][i]["val_loss_mean"] is not None]
            if pts:
                ax[0].errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                               fmt="o-", color=colors[s], label=s, capsize=3)
            if s == best or all(r["label"] != "learning" for l in ladder for r in l["variants"][i]["runs"]):
                continue  # a variant that never learned would only stretch the gap axis
            # the seeds rule 6 pairs: finished, for both variants, at every length
            per_length = [(finished(l["variants"][i]["runs"]),
                           finished(next(v for v in l["variants"] if v["spec"] == best)["runs"]))
                          for l in ladder]
            seeds = set.intersection(*[set(a) & set(b) for a, b in per_length])
            gaps = []
            for by_seed, ref_seed in per_length:
                d = [by_seed[k] - ref_seed[k] for k in sorted(seeds)]
                m = sum(d) / len(d) if d else float("nan")
                sd = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1)) if len(d) > 1 else 0
                gaps.append((m, sd))
            ax[1].errorbar(lengths, [g[0] for g in gaps], yerr=[g[1] for g in gaps], fmt="o-",
                           color=colors[s], label=s, capsize=3)
        ax[0].axhline(unigram, color="black", ls="--", lw=1, label="unigram baseline %.3f" % unigram)
        ax[1].axhline(0, color="black", lw=1)
        ax[0].set(xlabel="schedule length (steps)", ylabel="val loss, whole split (nats/char)",
                  title="val loss at each schedule length (mean ± sd over seeds)")
        ax[1].set(xlabel="schedule length (steps)", ylabel="paired gap (nats/char)",
                  title="gap to %s (best at %d steps), paired by seed (mean ± sd over the seeds\n"
                  "finished at every length); variants with no learning run left out" % (best, lengths[-1]))
        for a in ax:
            a.set_xscale("log")
            a.set_xticks(lengths)
            a.set_xticklabels([str(x) for x in lengths])
            a.grid(alpha=0.3)
        ax[0].legend(fontsize=7)
        save(fig, d, "schedule")

    # 1. loss curves: mean over seeds, band = min..max; the unigram baseline on both panels
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    for s in specs:
        per_seed = [m for m in metrics[s] if m]
        if not per_seed:
            continue
        n = min(len(m) for m in per_seed)
        steps = [per_seed[0][i]["step"] for i in range(n)]
        curves = [ema([r["loss"] for r in m[:n]]) for m in per_seed]
        mean = [sum(c[i] for c in curves) / len(curves) for i in range(n)]
        ax[0].plot(steps, mean, color=colors[s], label=s)
        ax[0].fill_between(steps, [min(c[i] for c in curves) for i in range(n)],
                           [max(c[i] for c in curves) for i in range(n)], color=colors[s], alpha=0.15)
        vals = [[r for r in m if "val_loss" in r] for m in per_seed]
        k = min(len(v) for v in vals)
        if k:
            vs = [vals[0][i]["step"] for i in range(k)]
            vm = [sum(v[i]["val_loss"] for v in vals) / len(vals) for i in range(k)]
            ax[1].plot(vs, vm, "o-", color=colors[s], label=s, ms=3)
            ax[1].fill_between(vs, [min(v[i]["val_loss"] for v in vals) for i in range(k)],
                               [max(v[i]["val_loss"] for v in vals) for i in range(k)],
                               color=colors[s], alpha=0.15)
    for a in ax:
        a.axhline(unigram, color="black", ls="--", lw=1, label="unigram baseline %.3f" % unigram)
        a.set(xlabel="step", ylabel="cross-entropy (nats/char)")
        a.grid(alpha=0.3)
    ax[0].set_title("training loss (EMA 0.9; mean of %d seeds, band min..max)" % summary["seeds"])
    ax[1].set_title("validation loss")
    ax[1].legend(fontsize=7)
    save(fig, d, "loss_curves")

    # 2. gradient reaching each block's residual stream, scale-free: ||dL/dx|| RMS(x) (the
    # raw ||dL/dx|| scales as 1/(the stream's size) and compares stream sizes across norms);
    # block x step heatmaps, one colour scale for all; exact zeros are drawn black
    def flow_rows(p):
        rel = p.get("relative_grad")
        if rel is not None and all(g is not None for g in rel):
            return rel
        return None
    grads = {}
    for s in specs:
        recs = [p for p in first_probes[s] if flow_rows(p) is not None]
        if recs:
            grads[s] = ([p["step"] for p in recs], [flow_rows(p) for p in recs])
    positive = [g for _, rows in grads.values() for row in rows for g in row if g > 0]
    if grads and positive:
        lo, hi = min(positive), max(positive)
        fig, axes = plt.subplots(1, len(grads), figsize=(3.4 * len(grads) + 1.5, 3.8),
                                 squeeze=False, constrained_layout=True)
        cmap = plt.cm.viridis.copy()
        cmap.set_bad("black")
        im = None
        for a, (s, (steps, rows)) in zip(axes[0], grads.items()):
            nb = len(rows[0])
            data = [[rows[j][b] if rows[j][b] > 0 else float("nan") for j in range(len(steps))]
                    for b in range(nb)]
            im = a.imshow(data, aspect="auto", origin="lower", cmap=cmap, norm=LogNorm(lo, hi),
                          extent=[steps[0], steps[-1], -0.5, nb - 0.5], interpolation="nearest")
            a.set_title(s, fontsize=9, color=colors[s])
            a.set(xlabel="step")
            a.set_yticks(range(nb))
        axes[0][0].set_ylabel("block")
        fig.colorbar(im, ax=axes[0].tolist(),
                     label="relative gradient |dL/dx| RMS(x) at block output (black: exactly 0)")
        save(fig, d, "grad_flow")

    # 3. every norm scalar over training: the names each variant's kinds declare (summary.json)
    keys = []
    for v in summary["variants"]:
        keys += [k for k in v.get("scalars", []) if k not in keys]
    with_scalars = [s for s in specs if first_probes[s] and
                    any(k in n for n in first_probes[s][-1]["norms"] for k in keys)]
    panels = [(s, k) for s in with_scalars for k in keys
              if any(k in n for n in first_probes[s][-1]["norms"])]  # only scalars that exist
    if panels:
        ncol = min(3, len(panels))
        nrow = (len(panels) + ncol - 1) // ncol
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.3 * nrow), squeeze=False,
                                 constrained_layout=True)
        for a in axes.flat[len(panels):]:
            a.axis("off")
        for a, (s, key) in zip(axes.flat, panels):
            probes = first_probes[s]
            layers = [n["name"] for n in probes[-1]["norms"]]
            for i, layer in enumerate(layers):
                ys = [p["norms"][i].get(key) for p in probes]
                if any(y is not None for y in ys):
                    a.plot([p["step"] for p in probes], ys, color=plt.cm.plasma(i / max(1, len(layers) - 1)),
                           label=short(layer))
            a.set_title("%s: %s per layer" % (s, key), fontsize=9, color=colors[s])
            a.set(xlabel="step")
            vals = [abs(p["norms"][i][key]) for p in probes for i in range(len(layers))
                    if p["norms"][i].get(key)]
            if vals and min(vals) > 0 and max(vals) / min(vals) > 100:
                a.set_yscale("log")
            a.grid(alpha=0.3)
        axes.flat[0].legend(fontsize=5, ncol=2)
        save(fig, d, "norm_scalars")

    # 4. alpha vs 1/std of the layer's input (DyT paper, Fig. 8), log axes
    alpha_specs = [s for s in specs if first_probes[s] and "alpha" in first_probes[s][-1]["norms"][0]]
    if alpha_specs:
        fig, axes = plt.subplots(len(alpha_specs), 2, figsize=(11, 3.8 * len(alpha_specs)), squeeze=False,
                                 constrained_layout=True)
        for row, s in zip(axes, alpha_specs):
            probes = first_probes[s]
            layers = [n["name"] for n in probes[-1]["norms"]]
            for i, _ in enumerate(layers):
                c = plt.cm.plasma(i / max(1, len(layers) - 1))
                row[0].plot([p["step"] for p in probes], [p["norms"][i]["inv_std"] for p in probes], "--", color=c)
                row[0].plot([p["step"] for p in probes], [p["norms"][i]["alpha"] for p in probes], "-", color=c)
            row[0].set(title="%s: alpha (solid) and 1/std of input (dashed)" % s, xlabel="step", yscale="log")
            xs = [n["inv_std"] for n in probes[-1]["norms"]]
            ys = [n["alpha"] for n in probes[-1]["norms"]]
            row[1].scatter(xs, ys, c=[plt.cm.plasma(i / max(1, len(xs) - 1)) for i in range(len(xs))])
            row[1].set(title="%s, final: alpha vs 1/std (Pearson r of logs = %.2f)" % (s, correlation(
                [math.log(x) for x in xs if x > 0], [math.log(y) for y in ys if y > 0])),
                xlabel="1/std of input", ylabel="alpha", xscale="log", yscale="log")
            for a in row:
                a.grid(alpha=0.3, which="both")
        save(fig, d, "alpha_vs_inv_std")

    # 5. DyT saturation: layer x step heatmap of the fraction of |alpha x| > 2
    sat_specs = [s for s in specs if first_probes[s] and "saturation" in first_probes[s][-1]["norms"][0]]
    if sat_specs:
        fig, axes = plt.subplots(1, len(sat_specs), figsize=(5 * len(sat_specs) + 1.5, 4), squeeze=False,
                                 constrained_layout=True)
        im = None
        for a, s in zip(axes[0], sat_specs):
            probes = first_probes[s]
            layers = [n["name"] for n in probes[-1]["norms"]]
            data = [[p["norms"][i]["saturation"]["2.0"] for p in probes] for i in range(len(layers))]
            im = a.imshow(data, aspect="auto", origin="lower", vmin=0, vmax=1, cmap="magma",
                          extent=[probes[0]["step"], probes[-1]["step"], -0.5, len(layers) - 0.5])
            a.set_yticks(range(len(layers)))
            a.set_yticklabels([short(n) for n in layers], fontsize=6)
            a.set_title("%s" % s, fontsize=9, color=colors[s])
            a.set(xlabel="step")
        fig.colorbar(im, ax=axes[0].tolist(), label="fraction of elements with |alpha x| > 2")
        save(fig, d, "saturation")

    # 6. update / weight ratio per step: median over block matrices, and over norm scalars
    scalar_params = {k for v in summary["variants"] for k in v.get("scalar_parameters", [])}
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    for s in specs:
        probes = first_probes[s]
        if not probes:
            continue
        for a, pick in zip(ax, (lambda n: n.endswith(".weight") and ".ln_" not in n and ".h." in n,
                                lambda n: n.split(".")[-1] in scalar_params)):
            ys = []
            for p in probes:
                r = sorted(e["update_ratio"] for e in p["params"] if pick(e["name"]) and e.get("update_ratio"))
                ys.append(r[len(r) // 2] if r else None)
            if any(y for y in ys):
                a.plot([p["step"] for p in probes], ys, color=colors[s], label=s)
    ax[0].set(title="update / weight, median over block matrices", xlabel="step", yscale="log")
    ax[1].set(title="update / weight, median over norm scalars", xlabel="step", yscale="log")
    for a in ax:
        a.grid(alpha=0.3, which="both")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    save(fig, d, "update_ratio")

    # 7. input vs output-before-affine of early, middle and last norm layers at the end
    shown = [s for s in specs if first_probes[s]]
    if shown:
        fig, axes = plt.subplots(len(shown), 3, figsize=(12, 3.2 * len(shown)), squeeze=False,
                                 constrained_layout=True)
        for row, s in zip(axes, shown):
            norms = first_probes[s][-1]["norms"]
            for a, n in zip(row, [norms[0], norms[len(norms) // 2], norms[-1]]):
                a.scatter(n["scatter_x"], n["scatter_y"], s=4, alpha=0.5, color=colors[s])
                a.set_title("%s: %s" % (s, short(n["name"])), fontsize=8)
                a.set(xlabel="input x", ylabel="output before affine")
                a.grid(alpha=0.3)
        save(fig, d, "scatter")

    # 8. largest singular value of each norm layer's Jacobian at the end
    fig, a = plt.subplots(figsize=(9, 4.2), constrained_layout=True)
    for s in specs:
        if not first_probes[s]:
            continue
        norms = first_probes[s][-1]["norms"]
        vals = [sum(n["jacobian_sigma_max"]) / max(1, len(n["jacobian_sigma_max"])) for n in norms]
        xs = [i for i, v in enumerate(vals) if v > 0]
        a.plot(xs, [vals[i] for i in xs], "o-", color=colors[s], label=s)
    a.set(title="largest singular value of each norm layer's Jacobian (final step, mean of 4 tokens)",
          xlabel="norm layer (ln_1, ln_2 of each block, then ln_f)", ylabel="sigma_max", yscale="log")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    save(fig, d, "jacobian")
    FIGURES.write()


def correlation(xs, ys):
    n = min(len(xs), len(ys))
    if n < 2:
        return float("nan")
    xs, ys = xs[:n], ys[:n]
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
