#!/usr/bin/env bash
# Set up, then run the whole test suite (unit, study findings, CLI end to end, crash and
# GPU-agreement tests). One package and feature selection for every step, so nothing is
# built twice.
set -euo pipefail
cd "$(dirname "$0")/.."
# pdflatex and booktabs let the report tests compile the LaTeX table they write.
bash scripts/setup.sh texlive-latex-base texlive-latex-recommended
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --workspace --locked "$@"
