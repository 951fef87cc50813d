#!/usr/bin/env bash
# Data-parallel training on this machine: tokens/s of `normgrad train` with 1 process
# (all cores) against `mpirun -np 2` (cores / 2 threads each), same global batch and
# model, interleaved A/B/A/B (3 rounds) with the median of each; then the communicator's
# all-reduce bandwidth against MPI's own (bench_allreduce).
#   bash bench/dist_train.sh [build dir, default build/release]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
ng="$build/bin/normgrad"
mpi="mpirun --allow-run-as-root --oversubscribe -np 2"
work=$(mktemp -d /tmp/normgrad_dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
# config S of bench/compare_torch.py: 4 layers, 4 heads, 128 wide, 64 tokens, batch 12
flags="--n-layer 4 --n-head 4 --n-embd 128 --block-size 64 --batch 12 --max-steps 80
       --eval-interval 1000 --ckpt-interval 1000 --tensorboard false --quiet"
tps() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['tokens_per_s'])" "$1"; }
one=() two=()
for round in 1 2 3; do
  $ng train $flags --out "$work/one" > /dev/null
  one+=("$(tps "$work/one/metrics.jsonl")")
  $mpi $ng train $flags --out "$work/two" > /dev/null
  two+=("$(tps "$work/two/metrics.jsonl")")
done
python3 - "${one[*]}" "${two[*]}" << 'EOF2'
import statistics, sys
one = [float(x) for x in sys.argv[1].split()]
two = [float(x) for x in sys.argv[2].split()]
ratios = [b / a for a, b in zip(one, two)]
print("normgrad train, config S, 80 steps (tokens/s of training steps; 3 interleaved rounds):")
print("  1 process x 2 threads: median %.0f  (%s)" % (statistics.median(one), ", ".join("%.0f" % x for x in one)))
print("  2 ranks x 1 thread:    median %.0f  (%s)" % (statistics.median(two), ", ".join("%.0f" % x for x in two)))
print("  2 ranks / 1 process: median ratio %.2f (%.2f .. %.2f)" % (statistics.median(ratios), min(ratios), max(ratios)))
EOF2
echo
$mpi "$build/bench/bench_allreduce"
