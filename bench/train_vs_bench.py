#!/usr/bin/env python3
"""What users run against the benchmark: `normgrad train`'s own tokens/s (training steps
only, as it reports them) against bench/train_step on the same config, interleaved.

Config S with the built-in corpus (4 layers, 4 heads, n_embd 128, block 64, batch 12,
vocab 113 = the corpus's characters), layernorm, all cores. R rounds; in each, one
`normgrad train` process (--max-steps N, no probes) and N steps of a warm bench/train_step
--serve process, one after the other, the order alternating. Both sides' numbers are means
over their steps (train's tokens/s is a mean). Then R rounds of `normgrad train` with probes
at `normgrad compare`'s default interval (max_steps / 20) beside plain runs: the probe
overhead = (plain steps + probe steps) / (all steps at the plain steps' mean) - 1, and the
probe time itself, as train reports it in metrics.jsonl (probe_s).

  python3 bench/train_vs_bench.py [--build build/release] [--rounds 5] [--steps 200]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

GAP_S = 0.25  # let the previous side's OpenMP threads stop spinning


def train(ng, steps, probe_interval, work, k):
    out = os.path.join(work, "run%d_%d" % (k, probe_interval))
    subprocess.run([ng, "train", "--max-steps", str(steps), "--probe-interval", str(probe_interval),
                    "--eval-interval", str(steps), "--tensorboard", "false", "--quiet", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    last = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))][-1]
    return last


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    a = ap.parse_args()
    ng = os.path.join(os.path.abspath(a.build), "bin", "normgrad")
    bench = subprocess.Popen([os.path.join(os.path.abspath(a.build), "bench", "train_step"), "--serve",
                              "--config", "S", "--vocab", "113", "--warmup", "5"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def bench_run(n):
        bench.stdin.write("run %d\n" % n)
        bench.stdin.flush()
        return json.loads(bench.stdout.readline())

    tokens = 12 * 64
    ratios, ng_tps, b_tps = [], [], []
    with tempfile.TemporaryDirectory(prefix="normgrad_tvb.") as work:
        bench_run(a.steps // 4)  # untimed
        for r in range(a.rounds):
            sides = ["train", "bench"] if r % 2 == 0 else ["bench", "train"]
            got = {}
            for side in sides:
                if side == "train":
                    got[side] = train(ng, a.steps, 0, work, r)["tokens_per_s"]
                else:
                    got[side] = tokens / bench_run(a.steps)["mean_step_s"]
                time.sleep(GAP_S)
            ng_tps.append(got["train"])
            b_tps.append(got["bench"])
            ratios.append(got["train"] / got["bench"])
            print("round %d: normgrad train %.0f tokens/s, bench/train_step %.0f: %.3f" % (r, got["train"], got["bench"], ratios[-1]), flush=True)
        bench.stdin.write("quit\n")
        bench.stdin.close()
        bench.wait()
        probe_steps = 2 * a.steps  # compare's default: 400 steps, probes every 20
        interval = max(1, probe_steps // 20)
        overheads, probe_s = [], []
        for r in range(a.rounds):
            m = train(ng, probe_steps, interval, work, 100 + r)
            n_probe = probe_steps // interval
            plain_mean = m["train_s"] / (probe_steps - n_probe)
            overheads.append((m["train_s"] + m["probe_s"]) / (probe_steps * plain_mean) - 1)
            probe_s.append(m["probe_s"])
            print("probes round %d: %d plain steps %.2f s, %d probe steps %.2f s: overhead %.1f%%" % (
                r, probe_steps - n_probe, m["train_s"], n_probe, m["probe_s"], 100 * overheads[-1]), flush=True)
    print()
    print("| measure | median over %d rounds | min..max |" % a.rounds)
    print("|---|---|---|")
    print("| `normgrad train` tokens/s (training steps only) | %.0f | %.0f..%.0f |" % (statistics.median(ng_tps), min(ng_tps), max(ng_tps)))
    print("| bench/train_step tokens/s (mean of the same number of steps) | %.0f | %.0f..%.0f |" % (statistics.median(b_tps), min(b_tps), max(b_tps)))
    print("| train / bench (per round) | **%.3f** | %.3f..%.3f |" % (statistics.median(ratios), min(ratios), max(ratios)))
    print("| probe overhead at compare's default interval (%d steps, every %d) | **%.1f%%** | %.1f..%.1f%% |" % (
        probe_steps, interval, 100 * statistics.median(overheads), 100 * min(overheads), 100 * max(overheads)))
    print("| probe steps' time (train's probe_s) | %.2f s | %.2f..%.2f s |" % (statistics.median(probe_s), min(probe_s), max(probe_s)))


if __name__ == "__main__":
    main()
