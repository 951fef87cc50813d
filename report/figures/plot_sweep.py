#!/usr/bin/env python3
"""Figures of a `normgrad sweep` report folder, from its summary.json.

heatmap.png: per variant and depth, the mean final val loss over (swept value, width),
  each cell annotated with its mean and its non-learning runs (white text on dark cells),
  the best value per width boxed; cells without a finished run are grey.
curves.png:  per variant and depth, val loss vs the swept value (log axis), one line per
  width with the seeds' sd as error bars and the best value per width marked; the unigram
  baseline dashed.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_list import FigureList  # noqa: E402
from plot_style import text_colour  # noqa: E402
import numpy as np  # noqa: E402


def groups(cells):
    keys = []
    for c in cells:
        k = (c["variant"], c["layers"])
        if k not in keys:
            keys.append(k)
    return keys


def main(folder):
    figures = FigureList(folder)
    with open(os.path.join(folder, "summary.json")) as f:
        s = json.load(f)
    cells, param = s["cells"], s["param"]
    keys = groups(cells)
    footer = "settings: " + s["config"][:160] + "..."

    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4.2), squeeze=False)
    for ax, (variant, layers) in zip(axes[0], keys):
        mine = [c for c in cells if c["variant"] == variant and c["layers"] == layers]
        values = sorted({c["value"] for c in mine})
        widths = sorted({c["width"] for c in mine})
        grid = np.full((len(widths), len(values)), np.nan)
        for c in mine:
            if c["val_mean"] is not None:
                grid[widths.index(c["width"]), values.index(c["value"])] = c["val_mean"]
        cmap = matplotlib.colormaps["viridis_r"].copy()
        cmap.set_bad("#cccccc")
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", origin="lower")
        for c in mine:
            i, j = widths.index(c["width"]), values.index(c["value"])
            text = "n/a" if c["val_mean"] is None else "%.3f" % c["val_mean"]
            bad = [p for p in c["labels"].split(", ") if "learning" not in p]
            if bad:
                text += "\n" + "\n".join(bad)
            under = "#cccccc" if c["val_mean"] is None else im.cmap(im.norm(c["val_mean"]))
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color=text_colour(matplotlib.colors.to_rgba(under)),
                    fontweight="bold" if c["best"] else "normal")
            if c["best"]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="red", linewidth=2.5))
        ax.set_xticks(range(len(values)), [("%g" % v) for v in values])
        ax.set_yticks(range(len(widths)), [str(w) for w in widths])
        ax.set_xlabel(param)
        ax.set_ylabel("n_embd")
        ax.set_title("%s, %d layers: val loss (red: best per width)" % (variant, layers),
                     fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.text(0.01, 0.01, footer, fontsize=6)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    figures.save(fig, "heatmap", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4.2), squeeze=False)
    for ax, (variant, layers) in zip(axes[0], keys):
        mine = [c for c in cells if c["variant"] == variant and c["layers"] == layers]
        for w in sorted({c["width"] for c in mine}):
            row = sorted((c for c in mine if c["width"] == w), key=lambda c: c["value"])
            xs = [c["value"] for c in row if c["val_mean"] is not None]
            ys = [c["val_mean"] for c in row if c["val_mean"] is not None]
            es = [c["val_sd"] or 0.0 for c in row if c["val_mean"] is not None]
            line = ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label="n_embd %d" % w)
            for c in row:
                if c["best"]:
                    ax.plot([c["value"]], [c["val_mean"]], marker="*", markersize=16,
                            color=line[0].get_color(), markeredgecolor="black")
        ax.axhline(s["unigram_val_loss"], color="grey", linestyle="--", label="unigram baseline")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(param + " (log scale)")
        ax.set_ylabel("final val loss (mean over seeds)")
        ax.set_title("%s, %d layers (star: best per width)" % (variant, layers), fontsize=9)
        ax.legend(fontsize=7)
    fig.text(0.01, 0.01, footer, fontsize=6)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    figures.save(fig, "curves", dpi=110)
    plt.close(fig)
    figures.write()


if __name__ == "__main__":
    main(sys.argv[1])
