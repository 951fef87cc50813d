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
# per step: each step ends with a device synchronize (both sides); queued: the steps run back
# to back with one wait at the end (the GPU's throughput when the host never waits);
# waits/step: normgrad's host waits per queued step (cuda::host_syncs; target 0).
printf '%-7s %-10s %12s %12s %7s %12s %12s %7s %10s\n' config norm "ng tok/s" "torch tok/s" ratio \
  "ng queued" "torch queued" ratio "waits/step"
for cfg in S L; do
  for norm in $KINDS; do
    ng=$("$BUILD/bench/train_step" --device cuda --config $cfg --norm $norm --steps 30 --warmup 10)
    th=$(python3 bench/torch_reference.py --device cuda --config $cfg --norm $norm --steps 30 \
         --warmup 10 --threads 1)
    python3 - "$cfg" "$norm" "$ng" "$th" <<'PY'
import json, sys
cfg, norm, a, b = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
qa, qb = a.get("queued_tokens_per_s", 0), b.get("queued_tokens_per_s", 0)
print(f"{cfg:<7} {norm:<10} {a['tokens_per_s']:12.0f} {b['tokens_per_s']:12.0f} "
      f"{a['tokens_per_s'] / b['tokens_per_s']:6.2f}x {qa:12.0f} {qb:12.0f} "
      f"{qa / qb if qb else 0:6.2f}x {a.get('host_syncs_per_step', -1):10.2f}")
PY
  done
done
