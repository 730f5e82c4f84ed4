#!/usr/bin/env bash
# Set up, then run the ISR preset through the CLI and print its summary.
# Extra arguments go to `benchtop run` (e.g. --store DIR, --jobs N).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run --locked --quiet --bin benchtop -- run experiments/isr-environments.toml "$@"
