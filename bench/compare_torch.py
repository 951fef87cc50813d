#!/usr/bin/env python3
"""normgrad vs PyTorch 1.13 (Debian's python3-torch) on the same GPT training step, measured so
that a noisy machine's slow phases hit both sides alike.

One long-lived process per side (bench/train_step --serve, bench/torch_reference.py --serve),
each warmed up once (and one untimed round), then R rounds: in each round both sides time K steps (median step), one
right after the other, the order alternating (AB, BA, AB, ...); normgrad also times its
GEMM-only floor (the step's matrix products through cblas) in the same round. Reported per
config and norm kind: the median over rounds of the per-round ratio normgrad / PyTorch
tokens/s with its min..max, and the median step / GEMM-only ratio. Each side runs at its best
thread setting, found once up front per config by the same interleaving (PyTorch: torch
threads x OpenBLAS threads, since torch.set_num_threads does not govern OpenBLAS's pool;
normgrad: 1 or 2 threads). Both load the same OpenBLAS, so they run the same kernel family.

  /usr/bin/python3 bench/compare_torch.py [--build build/release] [--configs S,M]
        [--norms layernorm,rmsnorm,dyt,dyisru,none] [--rounds 7] [--json FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS_PER_ROUND = {"S": 16, "M": 3, "L": 1}
CONFIG_TEXT = {"S": "4 layers, 4 heads, n_embd 128, block 64, batch 12, vocab 65",
               "M": "6 layers, 6 heads, n_embd 384, block 256, batch 8, vocab 65",
               "L": "6 layers, 6 heads, n_embd 384, block 256, batch 32, vocab 65"}


class Server:
    """One side's process: send 'run K', read one JSON line."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1,
                                  env=dict(os.environ, **(env or {})))

    def run(self, k):
        self.p.stdin.write("run %d\n" % k)
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit("compare_torch: %s ended: %s" % (" ".join(self.argv), self.p.stderr.read()[-2000:]))
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=60)


def ng_server(build, cfg, norm, threads):
    return Server([os.path.join(build, "bench", "train_step"), "--serve", "--config", cfg, "--norm", norm,
                   "--threads", str(threads), "--warmup", "3"])


def torch_server(cfg, norm, threads, blas_threads):
    return Server([sys.executable, os.path.join(HERE, "torch_reference.py"), "--serve", "--config", cfg,
                   "--norm", norm, "--threads", str(threads), "--warmup", "3"],
                  env={"OPENBLAS_NUM_THREADS": str(blas_threads), "OMP_NUM_THREADS": str(max(threads, blas_threads))})


GAP_S = 0.25  # idle time between two sides' turns: OpenMP pools spin-wait for a while
              # after their last parallel region and would steal the next side's cores


def interleave(servers, rounds, k):
    """One untimed round, then round-robin over servers for `rounds` rounds, the order
    reversed every other round; returns each server's list of replies."""
    for s in servers:  # both sides' first steps after idling (caches, page faults) untimed
        s.run(k)
        time.sleep(GAP_S)
    out = [[] for _ in servers]
    for r in range(rounds):
        order = list(range(len(servers)))
        if r % 2:
            order.reverse()
        for i in order:
            out[i].append(servers[i].run(k))
            time.sleep(GAP_S)
    return out


def best_settings(build, cfg, rounds):
    """The fastest thread setting of each side on this config (layernorm), interleaved."""
    ng_opts = [1, 2]
    torch_opts = [(1, 1), (1, 2), (2, 1), (2, 2)]
    servers = [ng_server(build, cfg, "layernorm", t) for t in ng_opts] + \
              [torch_server(cfg, "layernorm", t, b) for t, b in torch_opts]
    try:
        res = interleave(servers, rounds, STEPS_PER_ROUND[cfg])
    finally:
        for s in servers:
            s.close()
    tps = [statistics.median(r["tokens_per_s"] for r in rs) for rs in res]
    k_ng = max(range(len(ng_opts)), key=lambda i: tps[i])
    k_t = max(range(len(torch_opts)), key=lambda i: tps[len(ng_opts) + i])
    print("  %s thread settings (median tokens/s over %d interleaved rounds): normgrad %s; PyTorch %s"
          % (cfg, rounds, ", ".join("%d thr %.0f" % (t, tps[i]) for i, t in enumerate(ng_opts)),
             ", ".join("torch %d/OpenBLAS %d %.0f" % (t, b, tps[len(ng_opts) + i]) for i, (t, b) in enumerate(torch_opts))),
          flush=True)
    return ng_opts[k_ng], torch_opts[k_t]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--configs", default="S,M")
    ap.add_argument("--norms", default="layernorm,rmsnorm,dyt,dyisru,none")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json")
    a = ap.parse_args()
    try:
        import torch  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        raise SystemExit("compare_torch: needs PyTorch: apt-get install python3-torch, run with /usr/bin/python3")
    build = os.path.abspath(a.build)
    probe = subprocess.run([os.path.join(build, "bench", "train_step"), "--config", "S", "--steps", "1", "--warmup", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threads_line = probe.stderr.strip().split("\n")[0]
    peak = json.loads(subprocess.run([os.path.join(build, "bench", "fma_peak")], stdout=subprocess.PIPE,
                                     text=True, check=True).stdout)
    print("normgrad vs PyTorch %s, training step (forward, backward, AdamW, zero_grad)" % torch.__version__)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               "unknown CPU")
    print("  machine: %s, %d cores available" % (cpu, len(os.sched_getaffinity(0))))
    print("  normgrad: %s" % threads_line)
    print("  FMA peak (bench/fma_peak, %s, float32, measured now): %.0f GFLOP/s on 1 thread, %.0f on %d cores"
          % (peak["isa"], peak["gflops_1_thread"], peak["gflops_all_cores"], peak["cores"]))
    print("  OPENBLAS_CORETYPE=%s (both sides load the same OpenBLAS)" % os.environ.get("OPENBLAS_CORETYPE", "(unset)"))
    print("  %d rounds per row, order alternating; steps per round: %s"
          % (a.rounds, ", ".join("%s %d" % (c, STEPS_PER_ROUND[c]) for c in a.configs.split(","))), flush=True)
    rows = []
    start = time.time()
    for cfg in a.configs.split(","):
        ng_t, (tt, tb) = best_settings(build, cfg, 3)
        for norm in a.norms.split(","):
            ng, th = ng_server(build, cfg, norm, ng_t), torch_server(cfg, norm, tt, tb)
            try:
                r_ng, r_t = interleave([ng, th], a.rounds, STEPS_PER_ROUND[cfg])
            finally:
                ng.close()
                th.close()
            ratios = [x["tokens_per_s"] / y["tokens_per_s"] for x, y in zip(r_ng, r_t)]
            gemm = [x["step_s"] / x["gemm_only_s"] for x in r_ng]
            row = dict(config=cfg, norm=norm, ng_threads=ng_t, torch_threads=tt, torch_blas_threads=tb,
                       ng_tokens_per_s=statistics.median(x["tokens_per_s"] for x in r_ng),
                       torch_tokens_per_s=statistics.median(y["tokens_per_s"] for y in r_t),
                       ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                       step_over_gemm=statistics.median(gemm), step_over_gemm_min=min(gemm),
                       step_over_gemm_max=max(gemm),
                       gemm_gflops=statistics.median(x["gemm_flops"] / x["gemm_only_s"] / 1e9 for x in r_ng),
                       fma_peak=peak["gflops_1_thread"] if ng_t == 1 else peak["gflops_all_cores"],
                       ng_rss_mb=r_ng[-1]["peak_rss_mb"], torch_rss_mb=r_t[-1]["peak_rss_mb"])
            rows.append(row)
            print("  %s %-9s ratio %.2fx (%.2f..%.2f)" % (cfg, norm, row["ratio"], row["ratio_min"], row["ratio_max"]),
                  flush=True)
    print()
    print("| config | norm | normgrad / PyTorch (median, min..max) | normgrad tokens/s | PyTorch tokens/s "
          "| step / GEMM-only | GEMM-only GFLOP/s (% of FMA peak) | threads ng / torch+BLAS | peak RSS MB ng / torch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | **%.2fx** (%.2f..%.2f) | %.0f | %.0f | %.2f (%.2f..%.2f) | %.0f (%.0f%%) | %d / %d+%d | %.0f / %.0f |" % (
            r["config"], r["norm"], r["ratio"], r["ratio_min"], r["ratio_max"], r["ng_tokens_per_s"],
            r["torch_tokens_per_s"], r["step_over_gemm"], r["step_over_gemm_min"], r["step_over_gemm_max"],
            r["gemm_gflops"], 100 * r["gemm_gflops"] / r["fma_peak"], r["ng_threads"], r["torch_threads"], r["torch_blas_threads"], r["ng_rss_mb"],
            r["torch_rss_mb"]))
    print("\n(%s; took %.0f s)" % ("; ".join("%s: %s" % (c, CONFIG_TEXT[c]) for c in a.configs.split(",")),
                                  time.time() - start))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
