#!/usr/bin/env python3
"""`normgrad train --precision bf16` against fp32: the loss curve and tokens/s.

The default GPT (4 layers, 4 heads, n_embd 128, block 64, batch 12, layernorm, AdamW, the
built-in corpus), 600 steps, seeds 1337..1339, each seed once per precision, the two
precisions alternating (fp32 first for even seeds, bf16 first for odd ones) so that a slow
phase of the machine hits both. Reports, per precision, the val loss every 100 steps (mean
and sd over the seeds), the final val loss per seed, the difference bf16 - fp32 per seed
against the seeds' spread, and the training steps' tokens/s.

  python3 bench/bf16_vs_fp32.py [--build build/release] [--steps 600] [--seeds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile


def run(ng, precision, seed, steps, work):
    out = os.path.join(work, "%s_%d" % (precision, seed))
    subprocess.run([ng, "train", "--precision", precision, "--seed", str(seed), "--max-steps", str(steps),
                    "--eval-interval", "100", "--tensorboard", "false", "--quiet", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    return {"val": {r["step"]: r["val_loss"] for r in rows if "val_loss" in r},
            "tokens_per_s": rows[-1]["tokens_per_s"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    ng = os.path.join(os.path.abspath(a.build), "bin", "normgrad")
    seeds = [1337 + k for k in range(a.seeds)]
    res = {"fp32": {}, "bf16": {}}
    with tempfile.TemporaryDirectory(prefix="normgrad_bf16.") as work:
        for k, seed in enumerate(seeds):
            for p in (["fp32", "bf16"] if k % 2 == 0 else ["bf16", "fp32"]):
                res[p][seed] = run(ng, p, seed, a.steps, work)
                print("seed %d %s: val %.4f, %.0f tokens/s" % (seed, p, res[p][seed]["val"][a.steps],
                                                              res[p][seed]["tokens_per_s"]), flush=True)
    steps = sorted(res["fp32"][seeds[0]]["val"])
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
    print()
    print("| step | fp32 val loss | bf16 val loss | bf16 - fp32 (mean of per-seed differences) |")
    print("|---|---|---|---|")
    for s in steps:
        f = [res["fp32"][x]["val"][s] for x in seeds]
        b = [res["bf16"][x]["val"][s] for x in seeds]
        d = [y - x for x, y in zip(f, b)]
        print("| %d | %.4f ± %.4f | %.4f ± %.4f | %+.4f |" % (s, statistics.mean(f), sd(f), statistics.mean(b), sd(b),
                                                          statistics.mean(d)))
    f = [res["fp32"][x]["val"][a.steps] for x in seeds]
    b = [res["bf16"][x]["val"][a.steps] for x in seeds]
    d = [y - x for x, y in zip(f, b)]
    print()
    print("final val loss per seed: " + ", ".join("%d: fp32 %.4f, bf16 %.4f (%+.4f)" % (x, p, q, q - p)
                                                   for x, p, q in zip(seeds, f, b)))
    spread = max(f) - min(f)
    print("largest |bf16 - fp32| over seeds %.4f; the fp32 seeds' spread (max - min) %.4f, sd %.4f: %s" % (
        max(abs(x) for x in d), spread, sd(f), "within the seed spread" if max(abs(x) for x in d) <= spread
        else "OUTSIDE the seed spread"))
    tf = [res["fp32"][x]["tokens_per_s"] for x in seeds]
    tb = [res["bf16"][x]["tokens_per_s"] for x in seeds]
    print("tokens/s (training steps): fp32 %.0f (%.0f..%.0f), bf16 %.0f (%.0f..%.0f): bf16 / fp32 = %.2f (median of per-seed ratios)" % (
        statistics.median(tf), min(tf), max(tf), statistics.median(tb), min(tb), max(tb),
        statistics.median([y / x for x, y in zip(tf, tb)])))


if __name__ == "__main__":
    main()
