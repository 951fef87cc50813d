#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a Release build (with the CUDA
# backend when the toolkit exists; GPU tests skip without a device) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
mkdir -p build

# The real TensorBoard reader for the tensorboard test, from PyPI into a venv over Debian's
# Python (its numpy); optional: without network the test prints that it skipped this part.
venv=build/tb-venv
if ! "$venv/bin/python" -c 'import tensorboard' > /dev/null 2>&1; then
  if /usr/bin/python3 -m venv --system-site-packages "$venv" &&
     "$venv/bin/pip" install -q --disable-pip-version-check tensorboard==2.14.0 > build/tb-venv.log 2>&1; then
    echo "setup: tensorboard installed in $venv"
  else
    echo "setup: could not install tensorboard from PyPI (see build/tb-venv.log); its check will be skipped"
  fi
fi
if "$venv/bin/python" -c 'import tensorboard' > /dev/null 2>&1; then
  export NG_TB_PYTHON="$PWD/$venv/bin/python"
fi

echo "== release build =="
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release
(cd build/release && ctest --output-on-failure)

echo "== sanitizer build (ASan + UBSan) =="
# -O1 -g1 (line tables only): half the compile time of -O2 -g, reports keep file:line.
bash tools/build.sh build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNG_SANITIZE=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DNG_CUDA=OFF -DNG_BUILD_BENCH=OFF -DNG_BUILD_EXAMPLES=OFF
(cd build/sanitize && ctest --output-on-failure)
