#!/usr/bin/env bash
# Set up, check formatting and lints, then run the whole test suite: Rust unit,
# study-finding, CLI, crash and GPU-agreement tests; the UI's logic (Vitest); and the
# desktop app end to end in a real window under Xvfb. One package and feature selection
# for every cargo step, so nothing is built twice. Prints how long each phase took at the
# end, passed or not.
set -euo pipefail
cd "$(dirname "$0")/.."

phases=()
phase_start=$SECONDS
phase_name=""
phase() {
  [ -n "$phase_name" ] && phases+=("$(printf '%-34s %4d s' "$phase_name" $((SECONDS - phase_start)))")
  phase_name="$1"
  phase_start=$SECONDS
}
report() {
  local status=$?
  phase ""
  echo "test.sh: time per phase ($([ $status -eq 0 ] && echo passed || echo "failed, exit $status")):"
  printf '  %s\n' "${phases[@]}"
  printf '  %-34s %4d s\n' "total" "$SECONDS"
}
trap report EXIT

phase "set-up (apt, npm, UI build, weights)"
# pdflatex, booktabs and pgfplots (texlive-pictures) let the report tests compile the LaTeX
# table and chart pictures they write; Xvfb and WebKitWebDriver run the app's window for the
# E2E test; munge and Slurm's daemons and client start a single-node cluster for the Slurm tests.
bash scripts/setup.sh texlive-latex-base texlive-latex-recommended texlive-pictures xvfb xauth webkit2gtk-driver slurmctld slurmd slurm-client munge
export PATH="$HOME/.cargo/bin:$PATH"
command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked --quiet
phase "format and lint (Rust and UI)"
# Before any test: a formatting slip or a lint (an unwrap outside tests, a stray dbg!) fails
# fast. clippy's check build of the dependencies is cached in the target folder like the rest.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd ui && npm run --silent check && npm run --silent format:check)
phase "cargo build (tests and app)"
cargo test --workspace --locked --no-run "$@"
phase "cargo test"
# The Slurm test starts a single-node cluster of its own; where one cannot start here, say so
# visibly (the test itself then returns after one line, which cargo hides).
slurm_probe="$(mktemp -d)"
if ! bash scripts/slurm-cluster.sh start "$slurm_probe" >/dev/null 2>"$slurm_probe/why"; then
  echo "test.sh: the Slurm test will be skipped: $(tail -1 "$slurm_probe/why")"
fi
bash scripts/slurm-cluster.sh stop "$slurm_probe"
rm -rf "$slurm_probe"
cargo test --workspace --locked "$@"
phase "Vitest (UI logic)"
(cd ui && npm test --silent)
phase "end to end (app under Xvfb)"
# `cargo test` built the app binary with the same selection: no second build here.
(cd ui && xvfb-run -a node e2e/run.mjs)
