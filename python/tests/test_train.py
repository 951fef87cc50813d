"""train() from Python against the normgrad command (the C++ train()), bit for bit, and the
per-step callback with probe records; compare() with the command's variant specs."""
import json
import os
import subprocess

import pytest

import normgrad as ng

from helpers import small_config


def test_config_fields_come_from_the_x_macro():
    names = ng.TrainConfig.field_names()
    assert {"out", "lr", "norm", "eps", "alpha0", "probe_interval"} <= set(names)
    c = ng.TrainConfig(lr=3e-3, norm="rmsnorm")
    for n in names:
        assert hasattr(c, n)
    assert c.lr == 3e-3 and "lr" in c.given
    with pytest.raises(TypeError, match="unknown field 'learning_rate'"):
        ng.TrainConfig(learning_rate=1.0)
    bad = ng.TrainConfig(lr=-1.0)
    with pytest.raises(ng.Error, match="lr"):
        bad.validate()


def test_train_matches_the_command_bit_for_bit(tmp_path):
    cli = os.environ.get("NG_CLI_BINARY", "")
    if not cli or not os.path.exists(cli):
        pytest.skip("NG_CLI_BINARY (the normgrad command) is not set or missing")
    cfg = small_config(tmp_path / "py", probe_interval=6)
    steps = []
    res = ng.train(cfg, on_step=lambda s, loss, probes: steps.append((s, loss, probes)))
    assert res.steps == 12 and not res.diverged
    assert [s for s, _, _ in steps] == list(range(1, 13))
    assert all(p is None for s, _, p in steps if s % 6)
    assert isinstance(steps[5][2], dict) and steps[5][2]  # the probe record at step 6

    flags = cfg.to_flags()
    flags[flags.index("--out") + 1] = str(tmp_path / "cli")
    subprocess.run([cli, "train", *flags], check=True, capture_output=True)
    lines = (tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert last["step"] == 12
    assert res.final_val_loss == last["val_loss_full"]
    assert res.final_train_loss == last["train_loss_eval"]
    # Every step's training loss, as the callback saw it, is the command's.
    cli_losses = {m["step"]: m["loss"] for m in map(json.loads, lines)}
    assert [loss for _, loss, _ in steps] == [cli_losses[s] for s in range(1, 13)]


def test_callback_exception_ends_the_run(tmp_path):
    def stop(step, loss, probes):
        if step == 2:
            raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        ng.train(small_config(tmp_path), on_step=stop)


def test_compare_with_variant_specs(tmp_path):
    base = small_config(tmp_path / "unused", max_steps=6, eval_interval=6, ckpt_interval=6)
    # figures=False: matplotlib's seconds a report (test_sweep_with_specs draws them)
    r = ng.compare(base, variants=["rmsnorm", "dyt:alpha0=0.2"], seeds=1,
                   dir=str(tmp_path / "rep"), figures=False)
    assert [o.variant for o in r.runs] == ["rmsnorm", "dyt:alpha0=0.2"]
    assert all(o.steps == 6 and o.val_loss > 0 for o in r.runs)
    assert (tmp_path / "rep" / "report.md").exists() and not r.figures
    with pytest.raises(ng.Error):
        ng.compare(base, variants=["dyt:no_such_field=1"], seeds=1, dir=str(tmp_path / "bad"))


def test_compare_in_parallel_processes_equals_in_process(tmp_path, monkeypatch):
    # jobs=2 runs `normgrad train` processes: the command ctest built (NG_CLI_BINARY); the
    # numbers are those of the runs trained in this process
    exe = os.environ.get("NG_CLI_BINARY")
    if not exe:
        pytest.skip("NG_CLI_BINARY is not set (ctest sets it to the normgrad command)")
    base = small_config(tmp_path / "unused", max_steps=6, eval_interval=6, ckpt_interval=6)
    specs = ["rmsnorm", "dyt:alpha0=0.2"]
    serial = ng.compare(base, variants=specs, seeds=1, dir=str(tmp_path / "serial"),
                        figures=False)
    parallel = ng.compare(base, variants=specs, seeds=1, dir=str(tmp_path / "parallel"),
                          jobs=2, exe=exe, figures=False)
    assert [o.variant for o in parallel.runs] == specs
    assert [o.val_loss for o in parallel.runs] == [o.val_loss for o in serial.runs]
    assert [o.train_loss for o in parallel.runs] == [o.train_loss for o in serial.runs]
    monkeypatch.setenv("PATH", str(tmp_path))  # no normgrad command to be found
    with pytest.raises(ng.Error, match=r"\[compare\] jobs=2 runs each run as a `normgrad train` process"):
        ng.compare(base, variants=specs, seeds=1, dir=str(tmp_path / "nope"), jobs=2)
    with pytest.raises(ng.Error, match=r"exe='/nonexistent' is not an executable file"):
        ng.sweep(base, values=["1"], widths=[16], seeds=1, dir=str(tmp_path / "nope2"), jobs=2,
                 exe="/nonexistent")
