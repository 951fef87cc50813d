#!/usr/bin/env python3
"""Figures of a `normgrad convert` report folder, from its summary.json.

finetune.png:  val loss while fine-tuning after the surgery (the first seed), per target
  kind and init and for the unconverted control (black), norm parameters only (dashed) and
  all parameters (solid); the loss before the surgery and the unigram baseline as horizontal
  lines; step 0 is the loss right after it. A log axis only when the losses span a factor
  of 3 or more (plot_style.loss_axis_scale).
per_layer.png: with --per-layer, the val loss increase when only one layer is replaced
  (no training), per position, one bar per target kind and init, with margins so that no
  bar touches the frame.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_list import FigureList  # noqa: E402
from plot_style import loss_axis_scale, padded_limits  # noqa: E402


def main(folder):
    figures = FigureList(folder)
    with open(os.path.join(folder, "summary.json")) as f:
        s = json.load(f)
    steps = s["steps"]

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    drawn = [s["before"], s["unigram"]]
    rows = s["rows"] + ([s["control"]] if s.get("control") else [])
    for r in rows:
        control = r["init"] == "unconverted"
        for key, style in (("curve_norm_ft", "--"), ("curve_all_ft", "-")):
            curve = r[key]
            if not curve:
                continue
            xs = [0] + [round(steps * (k + 1) / len(curve)) for k in range(len(curve))]
            which = "norm params" if key == "curve_norm_ft" else "all params"
            name = ("control: %s unconverted" % r["target"] if control
                    else "%s, %s init" % (r["target"], r["init"]))
            ax.plot(xs, [r["after"]] + curve, style, marker="o", markersize=3,
                    color="black" if control else None, label="%s, %s" % (name, which))
            drawn += [r["after"]] + curve
    ax.axhline(s["before"], color="black", linewidth=1, label="before surgery (%s)" % s["source"])
    ax.axhline(s["unigram"], color="grey", linestyle=":", label="unigram baseline")
    scale = loss_axis_scale(drawn)
    ax.set_yscale(scale)
    ax.set_ylim(*padded_limits(drawn, include_zero=False) if scale == "linear" else
                (min(drawn) / 1.1, max(drawn) * 1.1))
    ax.set_xlabel("fine-tuning step (0: right after the surgery; the first seed)")
    ax.set_ylabel("val loss" + (" (log scale)" if scale == "log" else ""))
    ax.set_title("norm surgery: %s -> element-wise, then fine-tuning" % s["source"], fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.text(0.01, 0.01, s["recipe"], fontsize=6)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    figures.save(fig, "finetune", dpi=110)
    plt.close(fig)

    if s["per_layer"]:
        series = []
        for r in s["per_layer"]:
            k = (r["target"], r["init"])
            if k not in series:
                series.append(k)
        positions = s["positions"]
        width = 0.8 / len(series)
        fig, ax = plt.subplots(figsize=(max(7, 0.8 * len(positions)), 4.5))
        for i, (target, init) in enumerate(series):
            ys = []
            for p in positions:
                v = [r["after"] for r in s["per_layer"]
                     if r["target"] == target and r["init"] == init and r["position"] == p]
                ys.append((v[0] - s["before"]) if v and v[0] is not None else float("nan"))
            ax.bar([j + i * width for j in range(len(positions))], ys, width,
                   label="%s, %s init" % (target, init))
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(positions))],
                      [p.replace("transformer.", "") for p in positions], rotation=45,
                      ha="right", fontsize=7)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(*padded_limits([y for bars in ax.containers for y in bars.datavalues],
                                   scale="symlog", linthresh=1e-3))
        ax.set_xlim(-0.5 - width / 2, len(positions) - 0.5 + width / 2)
        ax.set_ylabel("val loss increase, one layer replaced (symlog)")
        ax.set_title("which norms the model cannot do without (no training)", fontsize=9)
        ax.legend(fontsize=7)
        fig.text(0.01, 0.01, s["recipe"], fontsize=6)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        figures.save(fig, "per_layer", dpi=110)
        plt.close(fig)
    figures.write()


if __name__ == "__main__":
    main(sys.argv[1])
