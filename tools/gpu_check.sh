#!/usr/bin/env bash
# Issue 19's checks in one run on a lent GPU machine (one H100 or H200, 16 cores, no network):
#   here:   bash tools/gpu_deps.sh       (once: Debian packages that machine lacks -> .gpu-debs/)
#   there:  device run, command "bash tools/gpu_check.sh", carry [".gpu-debs"], timeout_s 600
# It unpacks the packages under /tmp (never into /), builds normgrad for the GPU's
# architecture, runs the cuda test suite (parity, gradcheck, determinism, host waits per
# step, allocator, train/compare --device cuda), then bench/gpu_bench.sh (fused norm kernels
# against the copy bandwidth and the limit each hits; a GPT training step, normgrad vs
# PyTorch, configs S, L and G (GPT-2 small's shape) x layernorm/rmsnorm/dyt x fp32/tf32/bf16
# (+ PyTorch bf16 with flash attention, torch.compile if it compiles in time): one table,
# plus $OUT/gpu_train_bench.{json,md}; at most BENCH_BUDGET_S=270 s), then a
# compute-sanitizer pass, then the CPU's kernel family and thread scaling (issue 33). The whole log goes to $OUT/gpu_check.log as well.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu}
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
t0=$SECONDS
stage() { echo; echo "== $1 ($((SECONDS - t0)) s) =="; }

stage "machine"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
nvcc --version | tail -1
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
[[ -n "$arch" ]] || { echo "no GPU found by nvidia-smi"; exit 1; }

stage "dependencies from .gpu-debs"
deps=/tmp/ng-deps
mkdir -p "$deps"
ls .gpu-debs/*.deb > /dev/null || { echo "no .gpu-debs/: run tools/gpu_deps.sh here first"; exit 1; }
for f in .gpu-debs/*.deb; do
  if command -v dpkg > /dev/null; then dpkg -x "$f" "$deps"
  else (cd "$deps" && ar p "$OLDPWD/$f" "$(ar t "$OLDPWD/$f" | grep '^data.tar')" | tar -xJ); fi
done
lib=$deps/usr/lib/x86_64-linux-gnu
# Debian's OpenBLAS config names absolute /usr paths: point them at the unpacked copy.
sed -i "s#/usr/#$deps/usr/#g" "$lib/openblas-openmp/cmake/openblas/OpenBLASConfig.cmake"
export LD_LIBRARY_PATH=$lib/openblas-openmp:$lib:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$deps

stage "build for sm_$arch"
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DNG_BUILD_EXAMPLES=OFF -DCMAKE_PREFIX_PATH="$deps/usr" \
  -DOpenBLAS_DIR="$lib/openblas-openmp/cmake/openblas" \
  -DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf" > "$out/configure.log" 2>&1 ||
  { cat "$out/configure.log"; exit 1; }
grep "normgrad:" "$out/configure.log"
cmake --build build/gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }

stage "cuda test suite"
timeout 300 build/gpu/tests/normgrad_tests --test-suite=cuda --no-intro
echo "cuda suite exit status: $?"

stage "GPU benchmarks (at most ${BENCH_BUDGET_S:-270} s)"
OUT=$out BENCH_BUDGET_S=${BENCH_BUDGET_S:-270} timeout -k 5 $((${BENCH_BUDGET_S:-270} + 20)) \
  bash bench/gpu_bench.sh build/gpu
echo "gpu_bench exit status: $?"

stage "compute-sanitizer memcheck: the indexing, reduction and bad-index cases"
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 \
  build/gpu/tests/normgrad_tests --test-suite=cuda --no-intro \
  -tc="indexing*,reductions*,bad indices*,uploads*" 2>&1 | tail -25
# The fused attention's first runs on a GPU: shared-memory races and barrier misuse (its
# CPU emulation test cannot see warp scheduling), then out-of-bounds accesses.
for tool in racecheck synccheck memcheck; do
  stage "compute-sanitizer $tool: the fused attention"
  timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 \
    build/gpu/tests/normgrad_tests --test-suite=cuda --no-intro \
    -tc="fused causal self-attention*,float64 gradcheck*" 2>&1 | tail -12
done
# Issue 33 on this machine's 16 cores: the kernel family OpenBLAS picks by itself and the
# one the command runs (an earlier run saw Prescott here), and the default model's training
# speed at 1, 2, 4, 8, 16 threads and at the default --threads 0 (CPU only, no GPU).
stage "CPU: OpenBLAS kernel family, then threads (bench/threads_scaling.py)"
NG_BLAS_CORE=keep build/gpu/bin/normgrad --version | grep "^threads"
build/gpu/bin/normgrad --version | grep "^threads"
timeout 150 python3 bench/threads_scaling.py --build build/gpu --rounds 2 --steps 60 |
  tee "$out/threads_scaling.txt"
stage "done"
