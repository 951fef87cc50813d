#!/usr/bin/env bash
# Sets everything up, builds, and runs a job on its defaults:
#   bash tools/run.sh            normgrad compare: every default variant (norm kind + recipe),
#                                3 seeds each, 400 and 1200 steps -> out/compare/ (report.md +
#                                figures)
#   bash tools/run.sh sweep      normgrad sweep: DyT alpha0 x width -> out/sweep/
#   bash tools/run.sh surgery    trains an RMSNorm GPT, then normgrad convert: its norms
#                                replaced by DyISRU and DyT, one layer at a time too -> out/surgery/
# Everything a job writes goes under out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-compare}"
bash tools/setup.sh
mkdir -p build
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release
B=build/release/bin/normgrad
echo
case "$job" in
  compare)
    echo "== normgrad compare (default variants, 3 seeds each, 400 and 1200 steps; see --help) =="
    $B compare --report out/compare
    echo "Open out/compare/report.md and the PNG figures beside it." ;;
  sweep)
    echo "== normgrad sweep (dyt:scale=sqrtc, alpha0 x n_embd, 2 seeds; rerun to resume) =="
    $B sweep --report out/sweep
    echo "Open out/sweep/report.md and the PNG figures beside it." ;;
  surgery)
    echo "== normgrad train --norm rmsnorm, then normgrad convert --per-layer =="
    $B train --norm rmsnorm --out out/runs/rmsnorm
    $B convert --ckpt out/runs/rmsnorm/ckpt.safetensors --to dyisru,dyt --per-layer --report out/surgery
    echo "Open out/surgery/report.md and the PNG figures beside it." ;;
  *)
    echo "usage: bash tools/run.sh [compare|sweep|surgery]" >&2
    exit 2 ;;
esac
