#!/usr/bin/env bash
# Installs what normgrad needs on Debian 12 (run as root). Idempotent and fast when
# everything is already there: apt runs only for missing packages.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git
  libopenblas-openmp-dev   # OpenBLAS built on OpenMP: shares our thread pool
  openmpi-bin libopenmpi-dev  # data-parallel training and distributed sweeps (mpirun)
  nlohmann-json3-dev       # safetensors headers
  libcli11-dev             # the normgrad command's flags
  libpcre2-dev             # GPT-2 BPE: the pre-tokenizer pattern with Unicode properties
  fortunes                 # the built-in training corpus
  python3-matplotlib       # report figures
  python3-venv             # tests: a venv for the tensorboard reader (PyPI)
  doctest-dev              # tests
  libbenchmark-dev         # bench/
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present"
fi

# The CUDA toolkit is optional: the build uses it when nvcc exists (here or in
# /usr/local/cuda/bin) and builds CPU-only otherwise.
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found, the CUDA backend will be built"
else
  echo "setup: no CUDA toolkit, building CPU-only"
fi
