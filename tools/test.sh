#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a Release build (with the CUDA
# backend when the toolkit exists; GPU tests skip without a device) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests.
# Each phase prints its wall and CPU seconds; the last line sums them up (CI's budget is
# 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
summary=()
mkdir -p build
times_file=build/.test-times
# user + system CPU seconds of this shell's finished children so far. `times` runs in this
# shell and writes a file: inside $(...) it would see a subshell, which has no children.
children_cpu() {
  times > "$times_file"
  children_cpu_s=$(tail -1 "$times_file" |
    awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.0f", u[1]*60 + u[2] + s[1]*60 + s[2] }')
}
phase_wall=0 phase_cpu=0 phase_name=""
begin_phase() { phase_name=$1 phase_wall=$SECONDS; children_cpu; phase_cpu=$children_cpu_s; echo "== $1 =="; }
end_phase() {
  children_cpu
  local wall=$((SECONDS - phase_wall)) cpu=$((children_cpu_s - phase_cpu))
  echo "== $phase_name: ${wall} s wall, ${cpu} s CPU =="
  summary+=("$phase_name ${wall} s")
}

begin_phase "setup"
bash tools/setup.sh

# Optional references for the tests, each installed if missing; without network the tests
# that need them print that they skipped:
# - nanobind and pytest (the Python module's build and tests) in a venv over Debian's
#   Python, first: the release build's configure step asks for nanobind;
# - Debian's PyTorch 1.13 under transformers (GPT-2 interop: logits, export, BPE), and
#   tensorboard (the event-file reader) and transformers 4.40.2 (the last release that runs
#   on PyTorch 1.13) from PyPI;
# - Debian's qemu-user: the kernels suite runs the command on an emulated CPU that OpenBLAS
#   does not know (the automatic kernel family, end to end).
# These download while the release build compiles (the network, not the CPU, is their
# cost) and are waited for before the first test runs.
venv=build/py-venv
has() { "$venv/bin/python" -c "import $1" > /dev/null 2>&1; }
if ! has nanobind || ! has pytest; then
  if /usr/bin/python3 -m venv --system-site-packages "$venv" &&
     "$venv/bin/pip" install -q --disable-pip-version-check nanobind==3.1.0 pytest==9.2.0 \
       > build/py-venv.log 2>&1; then
    echo "setup: nanobind and pytest installed in $venv"
  else
    echo "setup: could not install nanobind/pytest from PyPI (see build/py-venv.log); the Python module is not built"
  fi
fi
install_references() {
  export DEBIAN_FRONTEND=noninteractive
  local pkg why
  for pkg in python3-torch qemu-user; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
      why="the interop tests against transformers will skip"
      [ "$pkg" = qemu-user ] && why="the emulated-CPU kernel family check will skip"
      apt-get install -y -qq --no-install-recommends "$pkg" > /dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$pkg" > /dev/null 2>&1; } ||
        echo "setup: $pkg could not be installed; $why"
    fi
  done
  if [ -x "$venv/bin/pip" ] && { ! has tensorboard || ! has transformers; }; then
    "$venv/bin/pip" install -q --disable-pip-version-check tensorboard==2.14.0 transformers==4.40.2 \
      >> build/py-venv.log 2>&1 ||
      echo "setup: could not install tensorboard/transformers from PyPI (see build/py-venv.log); the checks that need them will skip"
  fi
}
install_references > build/references.log 2>&1 &
references_pid=$!
# The Python module (python/) builds against this venv's Python when it has nanobind.
py_args=()
if has nanobind; then py_args=("-DPython_EXECUTABLE=$PWD/$venv/bin/python"); fi
end_phase

begin_phase "release build"
# CUDA code as compute_90 PTX only: CI proves the backend compiles (nvcc front end, host
# code, PTX) and links; machine code for a real GPU (ptxas, a third of nvcc's time) is
# built by tools/gpu_check.sh on the GPU machine.
# Unity builds (CMake joins each target's .cpp files into batches of 16): the headers
# (the standard library, nlohmann-json, doctest, CLI11) are parsed once a batch, not once a
# file: 205 s wall for everything but the Python module, against 650 s file by file, on the
# 2-core machine. Developers' own builds stay file by file (fast incremental rebuilds).
unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16)
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90-virtual \
  "${unity[@]}" ${py_args[@]+"${py_args[@]}"}
end_phase

begin_phase "waiting for the test references"
wait "$references_pid" || true
cat build/references.log
if has tensorboard; then export NG_TB_PYTHON="$PWD/$venv/bin/python"; fi
if has "transformers, tokenizers, torch"; then export NG_HF_PYTHON="$PWD/$venv/bin/python"; fi
end_phase

# ctest -j: every test works in its own temporary directory, so they run side by side.
begin_phase "release tests"
(cd build/release && ctest --output-on-failure -j "$(nproc)")
end_phase

begin_phase "sanitizer build (ASan + UBSan)"
# -O1 without debug info (the tests and the report/command code at -O0: CMakeLists.txt).
# UBSan's reports still name file:line (compiled in), ASan's name the function and offset;
# for ASan's file:line rebuild that folder with -g1 (15-20% more compile time, which CI's
# 10 minutes do not have).
bash tools/build.sh build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNG_SANITIZE=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -DNDEBUG" \
  -DNG_CUDA=OFF -DNG_BUILD_BENCH=OFF -DNG_BUILD_EXAMPLES=OFF "${unity[@]}"
end_phase

begin_phase "sanitizer tests"
(cd build/sanitize && ctest --output-on-failure -j "$(nproc)")
end_phase

joined=$(printf '%s, ' "${summary[@]}")
echo "test.sh: every test passed in $((SECONDS - t_start)) s on $(nproc) cores (${joined%, })"
