#!/usr/bin/env python3
"""The figure scripts' shared choices (report/figures/plot_style.py), from synthetic data:
annotation colour by cell brightness, a linear loss axis over a narrow range, bar margins.
Then plot_surgery.py and plot_sweep.py draw synthetic report folders with those choices.
Usage: test_plot_style.py FIGURES_DIR (the folder holding the scripts)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, sys.argv[1])
import plot_style  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


check(plot_style.text_colour((0.27, 0.00, 0.33, 1)) == "white", "dark viridis cell: white text")
check(plot_style.text_colour((0.99, 0.91, 0.14, 1)) == "black", "light viridis cell: black text")
check(plot_style.text_colour((0.8, 0.8, 0.8, 1)) == "black", "grey n/a cell: black text")
check(plot_style.loss_axis_scale([2.7, 3.1, 3.4]) == "linear", "2.7-3.4: linear axis")
check(plot_style.loss_axis_scale([2.45, 27.9]) == "log", "2.45-27.9: log axis")
check(plot_style.loss_axis_scale([]) == "linear", "no data: linear")
lo, hi = plot_style.padded_limits([0.1, 2.6], scale="symlog", linthresh=1e-3)
check(hi > 2.6 * 1.1 and lo == 0.0, "symlog bars: headroom above the tallest, base at 0: %r" % ((lo, hi),))
lo, hi = plot_style.padded_limits([-0.01, 0.5], scale="symlog", linthresh=1e-3)
check(lo < -0.01 and hi > 0.5, "symlog bars below 0 get a margin too: %r" % ((lo, hi),))
lo, hi = plot_style.padded_limits([2.7, 3.4], include_zero=False)
check(abs((3.4 - hi) - (lo - 2.7)) < 1e-12 and hi - 3.4 > 0.05, "linear margins: %r" % ((lo, hi),))

try:
    import matplotlib  # noqa: F401
    have_mpl = True
except ImportError:
    have_mpl = False
    print("figure scripts skipped: matplotlib is not installed for", sys.executable)

if have_mpl:
    import matplotlib.pyplot as plt
    import importlib
    with tempfile.TemporaryDirectory() as d:
        row = lambda t, i, after, curve: {"target": t, "init": i, "after": after, "norm_ft": curve[-1],
                                          "all_ft": curve[-1], "curve_norm_ft": curve,
                                          "curve_all_ft": curve}
        summary = {"before": 2.75, "unigram": 3.38, "steps": 10, "source": "rmsnorm",
                   "rows": [row("dyt", "stats", 3.1, [3.0, 2.9, 2.8, 2.8, 2.8])],
                   "control": row("rmsnorm", "unconverted", 2.75, [2.74] * 5),
                   "per_layer": [{"target": "dyt", "position": p, "init": "stats", "after": a}
                                 for p, a in (("transformer.h.0.ln_1", 2.8), ("transformer.ln_f", 5.4))],
                   "positions": ["transformer.h.0.ln_1", "transformer.ln_f"], "recipe": "synthetic"}
        json.dump(summary, open(os.path.join(d, "summary.json"), "w"))
        axes = {}
        real_save = plt.Figure.savefig

        def save(fig, path, **kw):  # keeps each figure's axes for the checks below
            axes[os.path.basename(path)] = fig.axes[0]
            return real_save(fig, path, **kw)
        plt.Figure.savefig = save
        importlib.import_module("plot_surgery").main(d)
        ft, pl = axes["finetune.png"], axes["per_layer.png"]
        check(ft.get_yscale() == "linear", "finetune.png over 2.7-3.4: linear, got " + ft.get_yscale())
        check(ft.get_ylim()[1] > 3.38, "finetune.png shows the unigram line")
        tallest = max(b.get_height() for b in pl.patches)
        check(pl.get_ylim()[1] > tallest * 1.1, "per_layer.png: the tallest bar (%g) below the "
              "frame (%g)" % (tallest, pl.get_ylim()[1]))
        check(any("control" in line.get_label() for line in ft.get_lines()), "the control is drawn")
        sweep = {"param": "alpha0", "config": "n_head=4", "unigram_val_loss": 3.38, "seeds": 2,
                 "cells": [{"variant": "dyt", "value": v, "width": w, "layers": 2, "val_mean": m,
                            "val_sd": 0.01, "labels": "2 learning", "best": b}
                           for v, w, m, b in ((1, 64, 2.5, True), (2, 64, 3.3, False),
                                              (1, 128, 2.6, False), (2, 128, 2.4, True))]}
        json.dump(sweep, open(os.path.join(d, "summary.json"), "w"))
        importlib.import_module("plot_sweep").main(d)
        hm = axes["heatmap.png"]
        image = hm.images[0]
        for t in hm.texts:
            x, y = (int(round(c)) for c in t.get_position())
            under = image.cmap(image.norm(image.get_array()[y, x]))
            check(t.get_color() == plot_style.text_colour(under),
                  "heatmap text %r: %s on a cell of luminance colour %r" % (t.get_text(), t.get_color(), under))
        check({t.get_color() for t in hm.texts} == {"white", "black"},
              "the synthetic heatmap has dark and light cells: %r" % {t.get_color() for t in hm.texts})

for f in failures:
    print("FAILED:", f)
print("plot_style: %d checks failed" % len(failures) if failures else "plot_style: all checks passed")
sys.exit(1 if failures else 0)
