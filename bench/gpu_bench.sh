#!/usr/bin/env bash
# The GPU benchmark a user reruns (tools/gpu_check.sh runs it on a lent GPU machine):
#   1. bench_cuda: the fused norm kernels (forward, backward, through the layer) against the
#      measured copy bandwidth, with the limit each one hits; elementwise ops; cuBLAS rates.
#   1b. bench_attention_cuda: the fused causal attention against the cuBLAS path (S, L, G
#      shapes; forward and forward + backward; peak memory), interleaved.
#   2. bench/gpu_train_bench.py: a GPT training step, normgrad against PyTorch on the same GPU,
#      configs S, L and G (GPT-2 small's shape), norms layernorm / rmsnorm / dyt, precisions
#      fp32 / tf32 / bf16 (and PyTorch's bf16 + flash attention, and torch.compile if it
#      compiles in time): tokens/s, peak GPU memory, host waits per step, ratio. One table at
#      the end; gpu_train_bench.json / .md and every process's log under OUT.
#   bash bench/gpu_bench.sh [BUILD_DIR]      (BUILD_DIR default build/release)
# Environment: OUT (default out/gpu), BENCH_BUDGET_S (default 270: the whole script's wall
# clock; every stage and process runs under `timeout`). Needs a GPU, a CUDA build of normgrad
# in BUILD_DIR (bench_cuda, train_step) and python3 with a CUDA PyTorch.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
OUT=${OUT:-out/gpu}
budget=${BENCH_BUDGET_S:-270}
mkdir -p "$OUT"
t0=$SECONDS
echo "== kernels: $BUILD/bench/bench_cuda =="
timeout -k 5 75 "$BUILD/bench/bench_cuda" 2>&1 | tee "$OUT/bench_cuda.txt"
echo "bench_cuda exit status: ${PIPESTATUS[0]} ($((SECONDS - t0)) s)"
echo
echo "== attention: $BUILD/bench/bench_attention_cuda (fused kernels vs the cuBLAS path) =="
timeout -k 5 60 "$BUILD/bench/bench_attention_cuda" --reps 5 2>&1 | tee "$OUT/bench_attention.txt"
echo "bench_attention_cuda exit status: ${PIPESTATUS[0]} ($((SECONDS - t0)) s)"
left=$((budget - (SECONDS - t0)))
echo
echo "== training step: normgrad vs PyTorch ($left s left of $budget) =="
timeout -k 5 $((left > 20 ? left : 20)) python3 bench/gpu_train_bench.py --build "$BUILD" --out "$OUT" \
  --budget-s $((left > 30 ? left - 10 : 20))
rc=$?
echo "gpu_train_bench exit status: $rc ($((SECONDS - t0)) s in all)"
exit $rc
