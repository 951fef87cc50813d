"""What several test files share: a small training config and the check of a report's
figures."""
import json
import subprocess

import normgrad as ng


def small_config(out, **kw):
    # threads=1: the C++ run and this one reduce in the same order.
    c = dict(out=str(out), threads=1, quiet=True, tensorboard=False, n_layer=1, n_head=2,
             n_embd=32, block_size=16, batch=4, max_steps=12, warmup=2, eval_interval=6,
             eval_iters=2, ckpt_interval=12, norm="dyt", alpha0=0.5)
    c.update(kw)
    return ng.TrainConfig(**c)


def plotting_available():
    # The reports draw with Debian's python3 (runs.cpp, run_plot_script) and its matplotlib.
    return subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"],
                          capture_output=True).returncode == 0


def check_figures(result, folder):
    if not plotting_available():
        print("figures not checked: /usr/bin/python3 has no matplotlib")
        return
    assert result.figures, (folder / "plot.log").read_text()
    listed = json.loads((folder / "figures.json").read_text())  # names, without .png
    assert listed and all((folder / (f + ".png")).exists() for f in listed)
    assert "## Figures" in (folder / "report.md").read_text()

