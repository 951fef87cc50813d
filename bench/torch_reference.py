#!/usr/bin/env python3
"""The same GPT training step in PyTorch (Debian's python3-torch 1.13 on the CPU; any PyTorch 2.x
on a GPU), for bench/compare_torch.py and bench/gpu_train_bench.py.

usage: torch_reference.py --config S|M|L|G --norm KIND --threads N [--device cpu|cuda]
                          [--steps 20] [--warmup 5] [--precision MODE] [--serve]
Prints one JSON line like bench/train_step. --serve: like bench/train_step --serve, reads
"run K" / "quit" from stdin and answers one JSON line per "run". OPENBLAS_NUM_THREADS is set by the caller:
torch.set_num_threads does not govern OpenBLAS's own pool.

--precision (the ways a PyTorch user speeds up this step on a GPU):
  fp32       float32 throughout (no TF32)
  tf32       float32 tensors, TF32 matmuls (torch.backends.cuda.matmul.allow_tf32 = True)
  bf16       bf16 autocast around the forward (matmuls in bf16; norms, softmax, loss float32)
  bf16_sdpa  bf16 autocast + F.scaled_dot_product_attention(is_causal=True) (flash attention)
  NAME_compile  any of these with the model under torch.compile (compiled on the first steps)
More --serve commands (bench/gpu_train_bench.py): "norm KIND" builds a fresh model and
optimizer; "precision MODE" switches the mode; "queued K" queues K steps with one wait at the
end and answers the step time, the peak memory allocated by tensors during them
(torch.cuda.max_memory_allocated) and the host waits per step (the synchronizing calls that
torch.cuda.set_sync_debug_mode reports, counted over one untimed step per norm and mode);
"info" answers the versions and the device.
On CUDA, AdamW is the fused kernel (fused=True) where the installed PyTorch has it.
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {"S": dict(n_layer=4, n_head=4, n_embd=128, block=64, batch=12, vocab=65),
           "M": dict(n_layer=6, n_head=6, n_embd=384, block=256, batch=8, vocab=65),
           "L": dict(n_layer=6, n_head=6, n_embd=384, block=256, batch=32, vocab=65),
           "G": dict(n_layer=12, n_head=12, n_embd=768, block=1024, batch=8, vocab=50257)}
MODES = ("fp32", "tf32", "bf16", "bf16_sdpa")


class RMSNorm(nn.Module):
    def __init__(self, c, eps=1e-5):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(c)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class DyT(nn.Module):
    def __init__(self, c, alpha0=0.5):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(alpha0))
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return torch.tanh(self.alpha * x) * self.weight + self.bias


class DyISRU(nn.Module):
    def __init__(self, c, beta0=4.0):
        super().__init__()
        self.beta_raw = nn.Parameter(torch.tensor(math.log(math.expm1(beta0))))
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return x * torch.rsqrt(x * x + F.softplus(self.beta_raw)) * self.weight + self.bias


def make_norm(kind, c):
    return {"layernorm": lambda: nn.LayerNorm(c), "rmsnorm": lambda: RMSNorm(c), "dyt": lambda: DyT(c),
            "dyisru": lambda: DyISRU(c), "none": lambda: nn.Identity()}[kind]()


class Block(nn.Module):
    def __init__(self, cfg, kind):
        super().__init__()
        c = cfg["n_embd"]
        self.n_head = cfg["n_head"]
        self.ln_1, self.ln_2 = make_norm(kind, c), make_norm(kind, c)
        self.c_attn, self.c_proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.c_fc, self.mlp_proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        t = cfg["block"]
        self.register_buffer("mask", torch.triu(torch.ones(t, t, dtype=torch.bool), 1))
        self.sdpa = False  # F.scaled_dot_product_attention instead of the explicit product

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, 2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.n_head)
            att = F.softmax(att.masked_fill(self.mask[:T, :T], float("-inf")), dim=-1)
            y = att @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, cfg, kind):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(cfg["vocab"], cfg["n_embd"]), nn.Embedding(cfg["block"], cfg["n_embd"])
        self.h = nn.ModuleList(Block(cfg, kind) for _ in range(cfg["n_layer"]))
        self.ln_f = make_norm(kind, cfg["n_embd"])
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def check_mode(mode):
    base = mode[:-len("_compile")] if mode.endswith("_compile") else mode
    if base not in MODES:
        sys.exit("torch_reference.py: unknown precision %r (%s, optionally with _compile)" % (mode, ", ".join(MODES)))
    if "sdpa" in base and not hasattr(F, "scaled_dot_product_attention"):
        sys.exit("torch_reference.py: %s needs F.scaled_dot_product_attention (PyTorch >= 2.0; this is %s)"
                 % (mode, torch.__version__))
    if mode.endswith("_compile") and not hasattr(torch, "compile"):
        sys.exit("torch_reference.py: %s needs torch.compile (PyTorch >= 2.0; this is %s)" % (mode, torch.__version__))
    return base


def set_tf32(on):
    with warnings.catch_warnings():  # newer PyTorch may call this flag legacy: it still works
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = on


def get_tf32():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(torch.backends.cuda.matmul.allow_tf32)


class Trainer:
    """One model + optimizer for a config and norm kind; steps in a precision mode."""

    def __init__(self, a, cfg, norm):
        self.a, self.cfg, self.norm, self.device = a, cfg, norm, a.device
        torch.manual_seed(1)
        self.model = GPT(cfg, norm).to(a.device)
        named = list(self.model.named_parameters())
        decay = [p for n, p in named if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
        rest = [p for n, p in named if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
        self.opt, self.fused = None, False
        if a.device == "cuda":
            try:
                self.opt, self.fused = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), fused=True), True
            except (TypeError, RuntimeError, ValueError):
                self.opt = None
        if self.opt is None:
            self.opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95))
        self.x = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["block"])).to(a.device)
        self.y = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["block"])).to(a.device)
        self.compiled = None
        self.waits = {}  # mode -> host waits per step
        self.set_mode(a.precision)

    def set_mode(self, mode):
        base = check_mode(mode)
        self.mode, self.bf16 = mode, base.startswith("bf16")
        set_tf32(base == "tf32")
        for b in self.model.h:
            b.sdpa = "sdpa" in base
        self.fwd = self.model
        if mode.endswith("_compile"):
            if self.compiled is None:
                self.compiled = torch.compile(self.model)
            self.fwd = self.compiled

    def step(self):
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.fwd(self.x, self.y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def count_waits(self):
        """Host waits in one step: the synchronizing calls PyTorch's sync debug mode flags."""
        if self.device != "cuda" or not hasattr(torch.cuda, "set_sync_debug_mode"):
            return None
        self.sync()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                self.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        self.sync()
        return float(sum("synchroniz" in str(w.message) for w in caught))

    def queued(self, k):
        if self.mode not in self.waits:
            self.waits[self.mode] = self.count_waits()
        self.sync()
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(k):
            self.step()
        self.sync()
        dt = (time.perf_counter() - t0) / k
        out = {"impl": "torch", "device": self.device, "torch": torch.__version__, "config": self.a.config,
               "norm": self.norm, "precision": self.mode, "steps": k, "step_s": dt,
               "tokens_per_s": self.cfg["batch"] * self.cfg["block"] / dt,
               "host_syncs_per_step": self.waits[self.mode], "fused_adamw": self.fused,
               "tf32_matmul": get_tf32(),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
        if self.device == "cuda":
            out["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out


def info(a):
    out = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "device": a.device,
           "threads": torch.get_num_threads()}
    if a.device == "cuda":
        p = torch.cuda.get_device_properties(0)
        out.update(gpu=torch.cuda.get_device_name(0), sms=p.multi_processor_count,
                   gpu_mem_gb=round(p.total_memory / 2**30, 1),
                   cudnn=torch.backends.cudnn.version())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="S")
    ap.add_argument("--norm", default="layernorm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = CONFIGS[a.config]
    tr = Trainer(a, cfg, a.norm)

    def run_steps(n):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            tr.step()
            tr.sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) if times else 0.0

    def run_queued(n):
        # n steps queued back to back, one wait at the end: the GPU's throughput when the
        # host never waits (what a training loop that reads the loss rarely gets)
        tr.sync()
        t0 = time.perf_counter()
        for _ in range(n):
            tr.step()
        tr.sync()
        return (time.perf_counter() - t0) / n if n else 0.0

    def report(step):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        out = {"impl": "torch", "device": a.device, "torch": torch.__version__, "config": a.config,
               "norm": tr.norm, "precision": tr.mode, "threads": a.threads, "step_s": step,
               "tokens_per_s": cfg["batch"] * cfg["block"] / step, "peak_rss_mb": rss}
        if a.device == "cuda":
            q = run_queued(a.steps)
            out["queued_step_s"] = q
            out["queued_tokens_per_s"] = cfg["batch"] * cfg["block"] / q
        print(json.dumps(out), flush=True)

    run_steps(a.warmup)
    if not a.serve:
        report(run_steps(a.steps))
        return
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["run"] and len(words) == 2:
            report(run_steps(int(words[1])))
            continue
        if words[:1] == ["quit"]:
            break
        # the commands of bench/gpu_train_bench.py: a failure is answered, not fatal
        try:
            if words[:1] == ["queued"] and len(words) == 2:
                print(json.dumps(tr.queued(int(words[1]))), flush=True)
            elif words[:1] == ["norm"] and len(words) == 2:
                mode = tr.mode
                tr = None  # free the old model before building the next
                if a.device == "cuda":
                    torch.cuda.empty_cache()
                a.precision = mode
                tr = Trainer(a, cfg, words[1])
                print(json.dumps({"ok": "norm " + words[1]}), flush=True)
            elif words[:1] == ["precision"] and len(words) == 2:
                tr.set_mode(words[1])
                print(json.dumps({"ok": "precision " + words[1]}), flush=True)
            elif words[:1] == ["info"]:
                print(json.dumps(info(a)), flush=True)
            else:
                sys.exit("torch_reference.py --serve: unknown command %r" % line)
        except (Exception, SystemExit) as e:  # noqa: BLE001 (reported to the driver)
            if isinstance(e, SystemExit) and "unknown command" in str(e):
                raise
            print(json.dumps({"error": "%s: %s" % (type(e).__name__, str(e)[-800:])}), flush=True)


if __name__ == "__main__":
    main()
