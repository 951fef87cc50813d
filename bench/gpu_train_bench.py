#!/usr/bin/env python3
"""normgrad vs PyTorch: one GPT training step on one GPU, in the precisions each offers, as one
table (and a JSON and a markdown file). Run by bench/gpu_bench.sh (tools/gpu_check.sh).

  python3 bench/gpu_train_bench.py --build build/gpu [--out DIR] [--budget-s 240]
        [--configs S,L,G] [--norms layernorm,rmsnorm,dyt] [--ng-precisions fp32,tf32,bf16]
        [--torch-modes fp32,tf32,bf16,bf16_sdpa] [--compile-cap-s 90] [--device cuda]

Configs: S (4 layers x 128, block 64, batch 12, vocab 65), L (6 x 384, block 256, batch 32,
vocab 65), G (GPT-2 small's shape: 12 x 768, 12 heads, block 1024, batch 8, vocab 50257).
Modes: fp32; tf32 (float32 tensors, TF32 matmuls: normgrad --precision tf32, PyTorch
allow_tf32); bf16 (normgrad --precision bf16: bf16 matmul operands; PyTorch bf16 autocast);
bf16_sdpa (PyTorch only: bf16 autocast + F.scaled_dot_product_attention, flash attention; its
row compares normgrad's bf16 against it); optionally bf16_sdpa_compile (torch.compile, G with the
first norm only, when the budget leaves time; its own process under a time cap; not interleaved).

How it measures. Per config one long-lived process per side (bench/train_step --serve and
bench/torch_reference.py --serve, each under a hard `timeout`), both alive on the GPU, the
norm kinds one after the other (a fresh model each). Per norm: a warm-up chunk per mode, then
R rounds; in each round every mode runs one chunk of K steps on each side, the sides'
order alternating round by round. A chunk queues K steps back to back and waits once at the
end (a training loop that reads its loss rarely): tokens/s = K x batch x block / chunk time.
Reported: the median over rounds of tokens/s per side; ratio = the median over rounds of the
per-round normgrad / PyTorch ratio; peak memory = the most allocated by tensors during a
chunk (normgrad: cuda::memory_stats().peak, its caching allocator's bytes in use; PyTorch:
torch.cuda.max_memory_allocated(); both include the model, gradients, AdamW state and
activations, neither the CUDA context); host waits per step (normgrad: cuda::host_syncs
during the chunk; PyTorch: the synchronizing calls torch.cuda.set_sync_debug_mode flags in
one untimed step). Every command has a deadline, every process a `timeout`; a config that
would not fit in what is left of --budget-s is skipped and said so; the table is always
printed.
"""
import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_TEXT = {"S": "4 layers x 128, 4 heads, block 64, batch 12, vocab 65",
               "L": "6 layers x 384, 6 heads, block 256, batch 32, vocab 65",
               "G": "GPT-2 small shape: 12 layers x 768, 12 heads, block 1024, batch 8, vocab 50257"}
# warm-up steps per mode, steps per chunk, rounds; est_s: the config's expected seconds on an
# H200 (used to skip a config that cannot fit; G's normgrad fp32 step is ~0.2 s)
PLAN = {"S": dict(warmup=10, k=20, rounds=5, est_s=25),
        "L": dict(warmup=4, k=8, rounds=5, est_s=40),
        "G": dict(warmup=2, k=3, rounds=4, est_s=90)}
RUN_ORDER = ["G", "L", "S"]  # the most important and longest first; printed S, L, G
MODE_ORDER = ["fp32", "tf32", "bf16", "bf16_sdpa", "bf16_sdpa_compile"]
NG_FOR = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "bf16_sdpa": "bf16", "bf16_sdpa_compile": "bf16"}


class Failed(Exception):
    pass


class Server:
    """A --serve process under `timeout`: one command line in, one JSON line out, with a deadline."""

    def __init__(self, name, argv, cap_s, log_path, env=None):
        self.name, self.log_path = name, log_path
        self.log = open(log_path, "w")
        cmd = ["timeout", "-k", "5", str(max(5, int(cap_s)))] + argv
        self.log.write("$ %s\n" % " ".join(cmd))
        self.log.flush()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                  env=dict(os.environ, **(env or {})), start_new_session=True)
        self.buf = b""

    def tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-6:]).strip()
        except OSError:
            return ""

    def cmd(self, line, timeout_s):
        try:
            self.p.stdin.write((line + "\n").encode())
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            raise Failed("%s: the process had ended before '%s': %s" % (self.name, line, self.tail()))
        deadline = time.monotonic() + timeout_s
        fd = self.p.stdout.fileno()
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                text = raw.decode(errors="replace").strip()
                if text.startswith("{"):
                    return json.loads(text)
                self.log.write("[stdout] %s\n" % text)
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Failed("%s: no answer to '%s' within %.0f s (killed)" % (self.name, line, timeout_s))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.p.wait()
                    rc = self.p.returncode
                    why = " (its timeout expired)" if rc in (124, 137) else ""
                    raise Failed("%s: ended with status %s%s at '%s': %s" % (self.name, rc, why, line, self.tail()))
                self.buf += chunk

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except OSError:
                pass
            self.p.wait()

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b"quit\n")
                self.p.stdin.close()
                self.p.wait(timeout=15)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill()
        self.log.close()


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def med(v):
    return statistics.median(v) if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--out", default=os.environ.get("OUT", "out/gpu"))
    ap.add_argument("--budget-s", type=float, default=240, help="this script's whole wall-clock budget")
    ap.add_argument("--configs", default="S,L,G")
    ap.add_argument("--norms", default="layernorm,rmsnorm,dyt")
    ap.add_argument("--ng-precisions", default="fp32,tf32,bf16")
    ap.add_argument("--torch-modes", default="fp32,tf32,bf16,bf16_sdpa")
    ap.add_argument("--compile-cap-s", type=float, default=90,
                    help="time cap for the torch.compile run (G, first norm); 0: skip it")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script's machinery")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies steps per chunk (dry runs: small)")
    ap.add_argument("--rounds", type=int, default=0, help="rounds per norm (0: the plan's)")
    a = ap.parse_args()
    t_start = time.monotonic()
    deadline = t_start + a.budget_s
    left = lambda: deadline - time.monotonic()
    os.makedirs(a.out, exist_ok=True)
    logdir = os.path.join(a.out, "bench_logs")
    os.makedirs(logdir, exist_ok=True)
    configs = [c for c in RUN_ORDER if c in a.configs.split(",")]
    norms = a.norms.split(",")
    ng_modes = a.ng_precisions.split(",")
    th_modes = a.torch_modes.split(",")
    modes = [m for m in MODE_ORDER if m in ng_modes or m in th_modes]
    train_step = os.path.join(a.build, "bench", "train_step")
    if not os.access(train_step, os.X_OK):
        sys.exit("gpu_train_bench: %s not built" % train_step)

    machine = {"gpu": sh("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1"),
               "nvcc": sh("nvcc --version | tail -1"), "host_cpus": os.cpu_count(), "torch": None}
    records, notes, skipped = [], [], []

    def chunk_timeout(cfg, k):
        return 60 + 20 * k * (0.3 if cfg == "G" else 0.05)

    for cfg in configs:
        plan = dict(PLAN[cfg])
        k = max(1, int(round(plan["k"] * a.scale)))
        w = max(1, int(round(plan["warmup"] * a.scale)))
        rounds = a.rounds or plan["rounds"]
        later = sum(PLAN[c]["est_s"] for c in configs[configs.index(cfg) + 1:])
        # a config starts only when its estimate fits, keeping the later ones' estimates
        if a.device == "cuda" and left() - later < plan["est_s"] * 0.8:
            skipped.append(cfg)
            notes.append("config %s skipped: %.0f s left of the budget, ~%d s needed (+%d s for the later configs)"
                         % (cfg, left(), plan["est_s"], later))
            continue
        cap = max(10, left() - later * 0.6 - 2) if a.device == "cuda" else left()
        print("[%5.0f s] config %s (%s): %d norms x %d modes, %d rounds x %d steps, cap %.0f s"
              % (time.monotonic() - t_start, cfg, CONFIG_TEXT[cfg], len(norms), len(modes), rounds, k, cap),
              flush=True)
        t_cfg = time.monotonic()
        ng = th = None
        dead, bad = {}, set()  # a side that failed (its process ended or hung); (side, mode) that failed

        def call(side, line, timeout_s, mode=None):
            """One command; None when the side or this mode of it has failed (noted once)."""
            if side is None or side.name in dead or (side.name, mode) in bad:
                return None
            try:
                rep = side.cmd(line, timeout_s)
            except Failed as e:
                dead[side.name] = str(e)
                notes.append("config %s: %s" % (cfg, e))
                print("  FAILED: %s" % e, flush=True)
                side.kill()
                return None
            if "error" in rep:
                why = "%s: '%s' answered: %s" % (side.name, line, rep["error"])
                if mode:
                    bad.add((side.name, mode))
                    why += " (mode %s left out for this config)" % mode
                else:
                    dead[side.name] = why
                notes.append("config %s: %s" % (cfg, why))
                print("  FAILED: %s" % why, flush=True)
                return None
            return rep

        try:
            ng = Server("normgrad %s" % cfg,
                        [train_step, "--serve", "--device", a.device, "--config", cfg, "--norm", norms[0],
                         "--warmup", "0"], cap, os.path.join(logdir, "normgrad_%s.log" % cfg))
            th = Server("torch %s" % cfg,
                        [sys.executable, os.path.join(HERE, "torch_reference.py"), "--serve", "--device", a.device,
                         "--config", cfg, "--norm", norms[0], "--threads", "1", "--warmup", "0"],
                        cap, os.path.join(logdir, "torch_%s.log" % cfg), env={"OMP_NUM_THREADS": "1"})
            got = call(th, "info", 120)
            if got and machine["torch"] is None:
                machine["torch"] = got
            for ni, norm in enumerate(norms):
                if ni > 0:
                    call(ng, "norm " + norm, 120)
                    call(th, "norm " + norm, 120)
                for m in modes:  # warm-up: allocations, cuBLAS heuristics, first-call costs
                    for side, on in ((ng, m in ng_modes), (th, m in th_modes)):
                        if on and call(side, "precision " + m, 30, m) is not None:
                            call(side, "queued %d" % w, 180, m)
                for r in range(rounds):
                    for m in modes:
                        sides = [s for s, on in ((ng, m in ng_modes), (th, m in th_modes)) if on]
                        if r % 2:
                            sides.reverse()
                        for side in sides:
                            if call(side, "precision " + m, 30, m) is None:
                                continue
                            rec = call(side, "queued %d" % k, chunk_timeout(cfg, k), m)
                            if rec:
                                rec.update(round=r, mode=m, config=cfg)
                                records.append(rec)
                if len(dead) == 2:
                    break
        finally:
            for s in (ng, th):
                if s:
                    s.close()
        print("[%5.0f s] config %s done in %.0f s" % (time.monotonic() - t_start, cfg, time.monotonic() - t_cfg),
              flush=True)

    # torch.compile: a separate process (compiling may take long or hang), capped
    cm = "bf16_sdpa_compile"
    if a.compile_cap_s > 0 and "G" in configs and "G" not in skipped and a.device == "cuda":
        cap = min(a.compile_cap_s, left() - 5)
        if cap < 45:
            notes.append("torch.compile run skipped: %.0f s left of the budget" % left())
        else:
            print("[%5.0f s] torch.compile (%s), G %s, cap %.0f s" % (time.monotonic() - t_start, cm, norms[0], cap),
                  flush=True)
            th = None
            t0 = time.monotonic()
            try:
                th = Server("torch G compile",
                            [sys.executable, os.path.join(HERE, "torch_reference.py"), "--serve", "--device", "cuda",
                             "--config", "G", "--norm", norms[0], "--threads", "1", "--warmup", "0",
                             "--precision", cm], cap, os.path.join(logdir, "torch_G_compile.log"),
                            env={"OMP_NUM_THREADS": "1"})
                th.cmd("queued 3", max(5, cap - 8))  # compiles here (forward and backward)
                compile_s = time.monotonic() - t0
                for r in range(3):
                    rec = th.cmd("queued %d" % PLAN["G"]["k"], max(5, deadline - time.monotonic() - 3))
                    rec.update(round=r, mode=cm, config="G", compile_s=compile_s)
                    records.append(rec)
                notes.append("torch.compile: compiled and warmed up in %.0f s (not interleaved with normgrad)" % compile_s)
            except Failed as e:
                notes.append("torch.compile run: %s" % e)
            finally:
                if th:
                    th.close()
    elif a.compile_cap_s > 0 and a.device == "cuda" and "G" in configs:
        notes.append("torch.compile run skipped: config G did not run")

    # --- summary
    def cell(cfg, norm, impl, mode):
        return [r for r in records if r["config"] == cfg and r["norm"] == norm and r["impl"] == impl
                and r.get("mode") == mode]

    rows = []
    for cfg in [c for c in ["S", "L", "G"] if c in configs]:
        for norm in norms:
            for m in modes:
                ngm = NG_FOR[m] if m not in ng_modes and NG_FOR[m] in ng_modes else m
                ngr, thr = cell(cfg, norm, "normgrad", ngm), cell(cfg, norm, "torch", m)
                if not ngr and not thr:
                    continue
                ratios = []
                for rnd in range(max([r["round"] for r in ngr + thr] or [0]) + 1):
                    if m.endswith("_compile"):
                        break  # its own process, after the rest: not interleaved
                    x = [r["tokens_per_s"] for r in ngr if r["round"] == rnd]
                    y = [r["tokens_per_s"] for r in thr if r["round"] == rnd]
                    if x and y:
                        ratios.append(x[0] / y[0])
                ng_tps, th_tps = med([r["tokens_per_s"] for r in ngr]), med([r["tokens_per_s"] for r in thr])
                ratio = med(ratios)
                if ratio is None and ng_tps and th_tps:
                    ratio = ng_tps / th_tps
                rows.append(dict(
                    config=cfg, norm=norm, mode=m, ng_mode=ngm if ngr else None,
                    ng_tokens_per_s=ng_tps, torch_tokens_per_s=th_tps, ratio=ratio,
                    ratio_min=min(ratios) if ratios else None, ratio_max=max(ratios) if ratios else None,
                    interleaved=bool(ratios),
                    ng_peak_gb=max([r.get("peak_mem_mb", 0) for r in ngr] or [0]) / 1024 or None,
                    torch_peak_gb=max([r.get("peak_mem_mb", 0) for r in thr] or [0]) / 1024 or None,
                    ng_waits=max([r.get("host_syncs_per_step", 0) for r in ngr]) if ngr else None,
                    torch_waits=thr[0].get("host_syncs_per_step") if thr else None,
                    rounds=max(len(ngr), len(thr))))

    def f(v, fmt, none="-"):
        return none if v is None else fmt % v

    head = ["config", "norm", "mode", "normgrad tok/s", "PyTorch tok/s", "ng / torch",
            "ng peak GB", "torch peak GB", "ng waits/step", "torch waits/step"]
    table = []
    for r in rows:
        ng_label = f(r["ng_tokens_per_s"], "%.0f")
        if r["ng_mode"] and r["ng_mode"] != r["mode"]:
            ng_label = "(%s) %s" % (r["ng_mode"], ng_label)
        ratio = f(r["ratio"], "%.2fx")
        if r["ratio"] is not None and not r["interleaved"]:
            ratio += "*"
        table.append([r["config"], r["norm"], r["mode"], ng_label, f(r["torch_tokens_per_s"], "%.0f"), ratio,
                      f(r["ng_peak_gb"], "%.2f"), f(r["torch_peak_gb"], "%.2f"), f(r["ng_waits"], "%.2f"),
                      f(r["torch_waits"], "%.0f")])
    tp = machine.get("torch") or {}
    mline = "machine: %s; %s; PyTorch %s (CUDA %s)%s; %s host CPUs; device %s" % (
        machine["gpu"] or "no nvidia-smi", machine["nvcc"] or "no nvcc", tp.get("torch", "?"),
        tp.get("torch_cuda", "?"), (", " + tp["gpu"]) if tp.get("gpu") else "", machine["host_cpus"], a.device)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)] if table else [len(h) for h in head]
    line = lambda cells: "  ".join(str(c).rjust(wd) if i >= 3 else str(c).ljust(wd)
                                   for i, (c, wd) in enumerate(zip(cells, widths)))
    print()
    print("== normgrad vs PyTorch: GPT training step, tokens/s (median of interleaved rounds) ==")
    print(mline)
    for c in [c for c in ["S", "L", "G"] if c in configs]:
        print("  %s: %s" % (c, CONFIG_TEXT[c]))
    print(line(head))
    for t in table:
        print(line(t))
    print("mode: fp32; tf32 = TF32 matmuls; bf16 = bf16 matmuls (PyTorch: autocast); bf16_sdpa = PyTorch bf16 "
          "autocast + scaled_dot_product_attention, against normgrad's bf16 (in parentheses).")
    print("ng / torch: median of per-round ratios (* = from medians, not interleaved). peak GB: tensors' peak during "
          "a chunk. waits/step: host waits per queued step (normgrad's counter; PyTorch's sync debug mode).")
    for n in notes:
        print("note: " + n)
    print("total %.0f s of a %.0f s budget" % (time.monotonic() - t_start, a.budget_s))

    summary = dict(machine=machine, device=a.device, configs={c: CONFIG_TEXT[c] for c in configs}, plan=PLAN,
                   scale=a.scale, rows=rows, records=records, notes=notes, seconds=time.monotonic() - t_start)
    with open(os.path.join(a.out, "gpu_train_bench.json"), "w") as fjson:
        json.dump(summary, fjson, indent=1)
    with open(os.path.join(a.out, "gpu_train_bench.md"), "w") as fmd:
        fmd.write("# normgrad vs PyTorch: GPT training step\n\n%s\n\n" % mline)
        for c in configs:
            fmd.write("- %s: %s\n" % (c, CONFIG_TEXT[c]))
        fmd.write("\n| %s |\n|%s\n" % (" | ".join(head), "---|" * len(head)))
        for t in table:
            fmd.write("| %s |\n" % " | ".join(str(x) for x in t))
        fmd.write("\ntokens/s: median over rounds of K queued steps with one wait at the end; ng / torch: median of "
                  "per-round ratios (* not interleaved); peak GB: bytes allocated by tensors at their peak during a "
                  "chunk; waits/step: host waits per queued step.\n")
        for n in notes:
            fmd.write("\n- note: %s" % n)
        fmd.write("\n")
    print("wrote %s and %s" % (os.path.join(a.out, "gpu_train_bench.json"), os.path.join(a.out, "gpu_train_bench.md")))
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
