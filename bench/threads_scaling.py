#!/usr/bin/env python3
"""`normgrad train` on its built-in defaults at 1, 2, 4, 8, 16 threads (those this machine
has) and at --threads 0 (the default: the thread count measured fastest on the model's
matrix products before the first step, kept per machine and model shape), as users run it: tokens/s over the training steps, as train reports
it in metrics.jsonl.

R rounds; in each, one `normgrad train --max-steps N` process per setting, the order reversed
every other round (this VM's speed drifts by up to 1.7x over minutes). Reported per setting:
the median tokens/s over the rounds with its min..max, and for --threads 0 the count it uses
(measured by its first run on the model's matrix products, cached in a folder of the
benchmark's own, as ~/.cache/normgrad keeps it for users). Runs of one setting must give
identical losses; across thread counts OpenBLAS's sums differ in the last bits, so the largest
loss difference between settings is printed.

  python3 bench/threads_scaling.py [--build build/release] [--rounds 5] [--steps 100]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time

GAP_S = 0.25  # let the previous run's OpenMP threads stop spinning


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(ng, threads, steps, out, cache):
    p = subprocess.run([ng, "train", "--threads", str(threads), "--max-steps", str(steps),
                        "--eval-interval", str(steps), "--tensorboard", "false", "--out", out,
                        "--overwrite"], check=True, capture_output=True, text=True,
                       env=dict(os.environ, NG_CACHE_DIR=cache))
    metrics = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    kept = re.search(r"^threads: (\d+) of \d+[ ,].*$", p.stdout, re.M)
    blas = re.search(r"core (\S+) \(", p.stdout)
    return {"tokens_per_s": metrics[-1]["tokens_per_s"], "losses": [m["loss"] for m in metrics],
            "kept": int(kept.group(1)) if kept else None, "core": blas.group(1) if blas else "?",
            "how": kept.group(0) if kept else ""}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    ng = os.path.join(os.path.abspath(a.build), "bin", "normgrad")
    cores = len(os.sched_getaffinity(0))
    settings = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= cores]
    if cores not in settings:
        settings.append(cores)
    settings.append(0)
    got = {s: [] for s in settings}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="normgrad_threads.") as work:
        for r in range(a.rounds):
            order = settings if r % 2 == 0 else list(reversed(settings))
            for s in order:
                got[s].append(run(ng, s, a.steps, os.path.join(work, "t%d" % s),
                                  os.path.join(work, "cache")))
                time.sleep(GAP_S)
    same_setting = all(x["losses"] == runs[0]["losses"] for runs in got.values() for x in runs)
    reference = got[settings[0]][0]["losses"]
    spread = max(abs(a - b) for runs in got.values() for x in runs for a, b in zip(x["losses"], reference))
    print("normgrad train (built-in defaults: 4 layers, n_embd 128, block 64, batch 12), %d steps, "
          "%d rounds, order reversed every other round" % (a.steps, a.rounds))
    print("machine: %s, %d cores available; OpenBLAS core %s" % (cpu_model(), cores, got[settings[0]][0]["core"]))
    print("losses identical across the runs of each setting: %s; largest loss difference between "
          "settings over %d steps: %.2g" % ("yes" if same_setting else "NO", a.steps, spread))
    print("--threads 0, first run: %s" % got[0][0]["how"])
    print()
    print("| --threads | tokens/s (median) | min..max | threads used |")
    print("|---|---|---|---|")
    for s in settings:
        tps = [x["tokens_per_s"] for x in got[s]]
        kept = sorted({x["kept"] for x in got[s] if x["kept"] is not None})
        print("| %s | %.0f | %.0f..%.0f | %s |" % ("0 (default)" if s == 0 else s, statistics.median(tps),
                                                 min(tps), max(tps), ", ".join(map(str, kept)) or "-"))
    print("\n(took %.0f s)" % (time.time() - t0))
    if not same_setting:
        raise SystemExit("threads_scaling: runs of one setting gave different losses")


if __name__ == "__main__":
    main()
