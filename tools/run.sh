#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job on its defaults: the examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
mkdir -p build
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release
echo
echo "== examples/micrograd_style =="
build/release/examples/micrograd_style
echo
echo "== examples/mlp_spiral =="
build/release/examples/mlp_spiral
