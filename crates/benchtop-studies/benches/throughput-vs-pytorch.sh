#!/usr/bin/env bash
# Every model shape the studies train, in burn and in PyTorch on the same threads: the ratios.
# PyTorch comes from PyPI into a virtual environment in the user's cache folder, installed by
# this script only (a few GB with its CUDA libraries; nothing else in Benchtop needs it). Not
# under the target folder: CI caches that folder and starts it over past 30 GB, and a torch
# there once pushed it past and cost a cold build.
# Arguments keep only the shapes whose names contain one of them (e.g. `goat policy`).
# `--libtorch` first builds the opt-in LibTorch backend (scripts/with-libtorch.sh) and
# measures burn on both of its CPU backends, burn-flex and LibTorch, in the same rounds.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="${BENCHTOP_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/benchtop/torch-venv}"
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch
fi
cd "$root"
export BENCHTOP_TORCH_PYTHON="$venv/bin/python"
if [ "${1:-}" = "--libtorch" ]; then
  shift
  exec scripts/with-libtorch.sh cargo test --workspace --bench throughput --features benchtop-studies/libtorch -- "$@"
fi
cargo test --workspace --bench throughput -- "$@"
