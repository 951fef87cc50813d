#!/usr/bin/env python3
"""The same GPT training step in PyTorch (Debian's python3-torch 1.13), for bench/compare_torch.py.

usage: torch_reference.py --config S|M|L --norm KIND --threads N [--device cpu|cuda]
                          [--steps 20] [--warmup 5] [--serve]
Prints one JSON line like bench/train_step. --serve: like bench/train_step --serve, reads
"run K" / "quit" from stdin and answers one JSON line per "run". OPENBLAS_NUM_THREADS is set by the caller:
torch.set_num_threads does not govern OpenBLAS's own pool.
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {"S": dict(n_layer=4, n_head=4, n_embd=128, block=64, batch=12, vocab=65),
           "M": dict(n_layer=6, n_head=6, n_embd=384, block=256, batch=8, vocab=65),
           "L": dict(n_layer=6, n_head=6, n_embd=384, block=256, batch=32, vocab=65)}


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

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, 2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.n_head)
        att = F.softmax(att.masked_fill(self.mask[:T, :T], float("-inf")), dim=-1)
        x = x + self.c_proj((att @ v).transpose(1, 2).reshape(B, T, C))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="S")
    ap.add_argument("--norm", default="layernorm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = CONFIGS[a.config]
    model = GPT(cfg, a.norm).to(a.device)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95))
    x = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["block"])).to(a.device)
    y = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["block"])).to(a.device)

    def run_steps(n):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            loss = model(x, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) if times else 0.0

    def run_queued(n):
        # n steps queued back to back, one wait at the end: the GPU's throughput when the
        # host never waits (what a training loop that reads the loss rarely gets)
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            loss = model(x, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        sync()
        return (time.perf_counter() - t0) / n if n else 0.0

    def report(step):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        out = {"impl": "torch", "device": a.device, "torch": torch.__version__, "config": a.config,
               "norm": a.norm, "threads": a.threads, "step_s": step,
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
        elif words[:1] == ["quit"]:
            break
        else:
            sys.exit("torch_reference.py --serve: unknown command %r" % line)


if __name__ == "__main__":
    main()
