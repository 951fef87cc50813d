"""Ctrl-C during train() from Python (a notebook's interrupt is SIGINT to the kernel): the
step in progress finishes, the checkpoint is saved, Python gets KeyboardInterrupt carrying
the result, and the run resumes from that checkpoint."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import normgrad as ng

CHILD = textwrap.dedent("""
    import json, sys
    import normgrad as ng
    cfg = ng.TrainConfig(**json.loads(sys.argv[1]))
    def on_step(step, loss, probes):
        print("step", step, flush=True)  # the parent sends SIGINT once it sees step 3
    try:
        ng.train(cfg, on_step=on_step)
        print(json.dumps({"raised": False}), flush=True)
    except KeyboardInterrupt as e:
        r = e.result
        print(json.dumps({"raised": True, "message": str(e), "steps": r.steps,
                          "interrupted": r.interrupted, "signal": r.signal}), flush=True)
""")


def test_sigint_stops_after_the_step_saves_and_raises(tmp_path):
    out = tmp_path / "run"
    fields = dict(out=str(out), threads=1, quiet=True, tensorboard=False, n_layer=1, n_head=2,
                  n_embd=32, block_size=16, batch=4, max_steps=100000, warmup=2,
                  eval_interval=100000, eval_iters=1, ckpt_interval=100000, norm="dyt")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(fields)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.strip() == "step 3":
                child.send_signal(signal.SIGINT)
                break
        rest, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    result = json.loads(rest.strip().splitlines()[-1])
    assert result["raised"], rest
    assert result["interrupted"] and result["signal"] == signal.SIGINT
    assert 3 <= result["steps"] < 100000
    assert "checkpoint saved at step %d" % result["steps"] in result["message"]
    # The checkpoint is the step the loop finished, and the run resumes from it.
    _, meta = ng.load_safetensors(str(out / "ckpt.safetensors"))
    assert int(meta["step"]) == result["steps"]
    again = ng.TrainConfig(out=str(out), resume=True, stop_at=result["steps"] + 2, threads=1,
                           quiet=True, tensorboard=False)
    r = ng.train(again)
    assert r.steps == result["steps"] + 2 and not r.interrupted
