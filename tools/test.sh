#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a Release build (with the CUDA
# backend when the toolkit exists; GPU tests skip without a device) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
mkdir -p build

echo "== release build =="
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release
(cd build/release && ctest --output-on-failure)

echo "== sanitizer build (ASan + UBSan) =="
# -O1 -g1 (line tables only): half the compile time of -O2 -g, reports keep file:line.
bash tools/build.sh build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNG_SANITIZE=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DNG_CUDA=OFF -DNG_BUILD_BENCH=OFF -DNG_BUILD_EXAMPLES=OFF
(cd build/sanitize && ctest --output-on-failure)
