#!/usr/bin/env bash
# Run on the development machine (Debian 12, network): downloads the Debian packages the lent
# GPU machine lacks (it has nvcc, CMake, ninja, g++ and PyTorch, and no network) into
# .gpu-debs/, which git ignores, for tools/gpu_check.sh to unpack there. ~14 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(
  libopenblas0-openmp libopenblas-openmp-dev libgfortran5  # the CPU backend's GEMM
  nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0  # the library and the command
  doctest-dev libbenchmark-dev libbenchmark1debian           # tests and bench/
  pkgconf-bin libpkgconf3                                    # finds PCRE2
)
mkdir -p .gpu-debs
grep -qx '/.gpu-debs/' .git/info/exclude 2>/dev/null || echo '/.gpu-debs/' >> .git/info/exclude
cd .gpu-debs
apt-get download "${pkgs[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
printf 'gpu_deps: %s packages in .gpu-debs/ (%s)\n' "$(ls ./*.deb | wc -l)" "$(du -sh . | cut -f1)"
