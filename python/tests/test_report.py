"""sweep and convert from Python with the command's specs, and their figures, drawn with the
scripts the package ships (normgrad/figures): the running program here is python, so the
command's lookup beside the program would find none."""
import pathlib

import pytest

import normgrad as ng

from helpers import check_figures, small_config


def test_the_package_ships_the_figure_scripts():
    figures = pathlib.Path(ng.__file__).resolve().parent / "figures"
    for script in ["plot_report.py", "plot_sweep.py", "plot_surgery.py", "figure_list.py"]:
        assert (figures / script).is_file()


def test_sweep_with_specs(tmp_path):
    base = small_config(tmp_path / "unused", max_steps=4, eval_interval=4, ckpt_interval=4)
    rep = tmp_path / "sweep"
    r = ng.sweep(base, variants=["dyt:scale=sqrtc"], values=["0.5", "2"], widths=[16], seeds=1,
                 dir=str(rep))
    assert [(c.variant, c.value, c.width, c.layers) for c in r.cells] == [
        ("dyt:scale=sqrtc", "0.5", 16, 1), ("dyt:scale=sqrtc", "2", 16, 1)]
    assert r.ran == 2 and r.reused == 0
    assert all(len(c.runs) == 1 and c.runs[0].steps == 4 for c in r.cells)
    assert all(c.labels for c in r.cells)
    assert len((rep / "sweep.csv").read_text().splitlines()) == 3  # header + 2 runs
    check_figures(r, rep)
    again = ng.sweep(base, variants=["dyt:scale=sqrtc"], values=["0.5", "2"], widths=[16],
                     seeds=1, dir=str(rep), figures=False)
    assert again.ran == 0 and again.reused == 2  # resumable, as the command
    assert not again.figures and "--figures 0" in (rep / "report.md").read_text()
    with pytest.raises(ng.Error):
        ng.sweep(base, variants=["dyt:no_such_field=1"], values=["1"], widths=[16], seeds=1,
                 dir=str(tmp_path / "bad"))


def test_convert_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    ng.train(small_config(run, norm="rmsnorm", max_steps=6, eval_interval=6, ckpt_interval=6))
    rep = tmp_path / "surgery"
    # figures=False: the sweep test checks that figures are drawn
    r = ng.convert(str(run / "ckpt.safetensors"), to=["dyt"], inits=["stats"], steps=2,
                   eval_batches=2, stats_batches=1, dir=str(rep), tensorboard=False,
                   quiet=True, figures=False)
    assert r.source_kind == "rmsnorm" and r.before > 0
    assert [(row.target, row.init) for row in r.rows] == [("dyt", "stats")]
    assert r.rows[0].after > 0 and r.rows[0].after_all_ft > 0
    assert not r.figures and (rep / "report.md").exists()
    with pytest.raises(TypeError, match="unknown option 'stepz'"):
        ng.convert(str(run / "ckpt.safetensors"), stepz=2)
