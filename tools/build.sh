#!/usr/bin/env bash
# Configures and builds one build tree: tools/build.sh DIR [extra cmake args...]
set -euo pipefail
dir=$1
shift
cmake -S "$(dirname "$0")/.." -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log"; exit 1; }
grep -E "normgrad:" "$dir.configure.log" || true
cmake --build "$dir" -j "$(nproc)"
