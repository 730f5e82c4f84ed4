#!/usr/bin/env bash
# Set up, then run the whole test suite: Rust unit, study-finding, CLI, crash and
# GPU-agreement tests; the UI's logic (Vitest); and the desktop app end to end in a real
# window under Xvfb. One package and feature selection for every cargo step, so nothing is
# built twice.
set -euo pipefail
cd "$(dirname "$0")/.."
# pdflatex and booktabs let the report tests compile the LaTeX table they write; Xvfb and
# WebKitWebDriver run the app's window for the E2E test.
bash scripts/setup.sh texlive-latex-base texlive-latex-recommended xvfb xauth webkit2gtk-driver
export PATH="$HOME/.cargo/bin:$PATH"
command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked --quiet
cargo test --workspace --locked "$@"
(cd ui && npm test --silent)
# `cargo test` built the app binary with the same selection: no second build here.
(cd ui && xvfb-run -a node e2e/run.mjs)
