#!/usr/bin/env bash
# Every model shape the studies train, in burn and in PyTorch on the same threads: the ratios.
# PyTorch comes from PyPI into a virtual environment under the target folder, installed by
# this script only (a few GB with its CUDA libraries; nothing else in Benchtop needs it).
# Arguments keep only the shapes whose names contain one of them (e.g. `goat policy`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/torch-venv"
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch
fi
cd "$root"
BENCHTOP_TORCH_PYTHON="$venv/bin/python" cargo test --workspace --bench throughput -- "$@"
