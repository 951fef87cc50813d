#!/usr/bin/env bash
# normgrad vs PyTorch 1.13 (Debian) on the same GPT training step, in one run: tokens/s per
# norm kind for configs S and M, PyTorch at its best of torch threads x OpenBLAS threads,
# the step / GEMM-only ratio, and peak RSS of both.
#   bash bench/compare_torch.sh [BUILD_DIR]   (default build/release; needs python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "python3-torch is not installed (apt-get install python3-torch)"; exit 1; }
# Both sides run the same OpenBLAS kernel family: the one normgrad uses (select_blas_core):
# NG_BLAS_CORE when it forces one, else OPENBLAS_CORETYPE as the environment sets it, else
# OpenBLAS's own choice (the same library detects the same family for both processes).
case "${NG_BLAS_CORE:-auto}" in
  auto | keep) ;;
  *) export OPENBLAS_CORETYPE=$NG_BLAS_CORE ;;
esac
echo "OpenBLAS kernel family for both: $("$build/bench/train_step" --config S --steps 1 --warmup 0 2>&1 >/dev/null | grep -o 'core [A-Za-z0-9]* ([^)]*' | head -1 || true)"
printf "%-6s %-10s %12s %12s %8s %12s %12s %12s\n" config norm "normgrad t/s" "torch t/s" ratio "step/GEMM" "RSS ng MB" "RSS torch MB"
for cfg in S M; do
  steps=50; [ "$cfg" = M ] && steps=8
  for norm in layernorm rmsnorm dyt dyisru none; do
    # two normgrad runs, the faster kept: PyTorch gets the best of four settings, and this VM
    # has slow phases that can catch a single run
    ng=$(for r in 1 2; do "$build/bench/train_step" --config $cfg --norm $norm --steps $steps --warmup 3; done |
         $py -c "
import json,sys
rs=[json.loads(l) for l in sys.stdin if l.strip()]
print(json.dumps(max(rs,key=lambda r:r['tokens_per_s'])))")
    best=""
    for t in 1 2; do
      for ob in 1 2; do
        r=$(OPENBLAS_NUM_THREADS=$ob $py bench/torch_reference.py --config $cfg --norm $norm --threads $t --steps $steps --warmup 3)
        best=$(printf '%s\n%s\n' "$best" "$r" | $py -c "
import json,sys
rs=[json.loads(l) for l in sys.stdin if l.strip()]
print(json.dumps(max(rs,key=lambda r:r['tokens_per_s'])))")
      done
    done
    printf '%s\n%s\n' "$ng" "$best" | $py -c "
import json,sys
a,b=[json.loads(l) for l in sys.stdin]
print('%-6s %-10s %12.0f %12.0f %7.2fx %12.2f %12.0f %12.0f' % (a['config'],a['norm'],a['tokens_per_s'],b['tokens_per_s'],a['tokens_per_s']/b['tokens_per_s'],a['step_s']/a['gemm_only_s'],a['peak_rss_mb'],b['peak_rss_mb']))"
  done
done
