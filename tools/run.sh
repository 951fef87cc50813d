#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job on its defaults: `normgrad compare`,
# which trains the same GPT for every default variant (norm kind + recipe) with 3 seeds and
# writes report/ (report.md + figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
mkdir -p build
bash tools/build.sh build/release -DCMAKE_BUILD_TYPE=Release
echo
echo "== normgrad compare (default variants, 3 seeds each; see --help) =="
build/release/tools/normgrad/normgrad compare --report report
echo
echo "Open report/report.md and the PNG figures beside it."
