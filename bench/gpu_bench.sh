#!/usr/bin/env bash
# The GPU benchmarks in one run: kernel throughput (bench_cuda), then training-step
# tokens/s of normgrad on cuda and of PyTorch eager on the same model, batch and GPU, for
# the default config (S: 4 layers, 128 wide, block 64, batch 12) and L (6, 384, 256, 32).
#   bash bench/gpu_bench.sh [BUILD_DIR] [norm kinds...]
# Needs a GPU, a CUDA build of normgrad in BUILD_DIR (default build/release) and python3
# with torch (CUDA) for the reference.
set -euo pipefail
BUILD=${1:-build/release}
shift || true
KINDS=${*:-layernorm rmsnorm dyt dyisru}
"$BUILD/bench/bench_cuda"
echo
printf '%-7s %-10s %14s %14s %8s\n' config norm "normgrad tok/s" "torch tok/s" ratio
for cfg in S L; do
  for norm in $KINDS; do
    ng=$("$BUILD/bench/train_step" --device cuda --config $cfg --norm $norm --steps 30 --warmup 10)
    th=$(python3 bench/torch_reference.py --device cuda --config $cfg --norm $norm --steps 30 \
         --warmup 10 --threads 1)
    python3 - "$cfg" "$norm" "$ng" "$th" <<'PY'
import json, sys
cfg, norm, a, b = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{cfg:<7} {norm:<10} {a['tokens_per_s']:14.0f} {b['tokens_per_s']:14.0f} "
      f"{a['tokens_per_s'] / b['tokens_per_s']:7.2f}x")
PY
  done
done
