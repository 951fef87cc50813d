#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a Release build (with the CUDA
# backend when the toolkit exists; GPU tests skip without a device) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
mkdir -p build

# Optional references for the tests, each installed if missing; without network the tests
# that need them print that they skipped:
# - Debian's PyTorch 1.13 under transformers (GPT-2 interop: logits, export, BPE);
# - a venv over Debian's Python with tensorboard (the event-file reader) and transformers
#   4.40.2 (the last release that runs on PyTorch 1.13) from PyPI.
if ! dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "ok installed"; then
  echo "setup: installing python3-torch (the reference of the GPT-2 interop tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends python3-torch > /dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-torch > /dev/null 2>&1; } ||
    echo "setup: python3-torch could not be installed; the interop tests against transformers will skip"
fi
venv=build/py-venv
has() { "$venv/bin/python" -c "import $1" > /dev/null 2>&1; }
if ! has tensorboard || ! has transformers || ! has nanobind || ! has pytest; then
  if /usr/bin/python3 -m venv --system-site-packages "$venv" &&
     "$venv/bin/pip" install -q --disable-pip-version-check tensorboard==2.14.0 transformers==4.40.2 \
       nanobind==3.1.0 pytest==9.2.0 > build/py-venv.log 2>&1; then
    echo "setup: tensorboard, transformers, nanobind and pytest installed in $venv"
  else
    echo "setup: could not install tensorboard/transformers/nanobind/pytest from PyPI (see build/py-venv.log); the checks that need them will skip"
  fi
fi
# The Python module (python/) builds against this venv's Python when it has nanobind.
py_args=()
if has nanobind; then py_args=("-DPython_EXECUTABLE=$PWD/$venv/bin/python"); fi
if has tensorboard; then export NG_TB_PYTHON="$PWD/$venv/bin/python"; fi
if has "transformers, tokenizers, torch"; then export NG_HF_PYTHON="$PWD/$venv/bin/python"; fi

# ctest -j: every test works in its own temporary directory, so they run side by side.
echo "== release build =="
# CUDA code for sm_90 only (the default adds sm_80): CI proves the backend compiles and
# links, and one architecture does that in a third less nvcc time.
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  ${py_args[@]+"${py_args[@]}"}
(cd build/release && ctest --output-on-failure -j "$(nproc)")

echo "== sanitizer build (ASan + UBSan) =="
# -O1 -g1 (line tables only): half the compile time of -O2 -g, reports keep file:line.
bash tools/build.sh build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNG_SANITIZE=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DNG_CUDA=OFF -DNG_BUILD_BENCH=OFF -DNG_BUILD_EXAMPLES=OFF
(cd build/sanitize && ctest --output-on-failure -j "$(nproc)")
