#!/usr/bin/env bash
# Fuzz every file format Benchtop reads, with cargo-fuzz (libFuzzer, AddressSanitizer) on a
# nightly toolchain: experiment files, run queries, stored run records, run checkpoints,
# `transforms.json` poses and artifact-cache entries. Each target runs for SECONDS (default
# 60), seeded with the project's own files where it has them (shipped experiments, a stored
# run, the bundled Lego poses, a query); the table at the end gives the inputs tried per
# target. A panic, a sanitizer report or a failed check stops the script at once with the
# input that caused it under fuzz/artifacts/, so a table printed means none was found.
#
#   scripts/fuzz.sh [SECONDS]
#
# Not part of the README's test command (it needs nightly); the normal suite runs property
# tests of the same parsers.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds="${1:-60}"

# (Captured first: `grep -q` closing a pipe early would fail the pipeline under pipefail.)
toolchains="$(rustup toolchain list)"
grep -q '^nightly' <<<"$toolchains" || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds: the shipped experiment files, a stored run, the bundled Lego poses, a query.
corpus=fuzz/corpus
mkdir -p "$corpus"/{experiment_file,run_query,run_record,checkpoint,transforms_json,cache_entry}
cp experiments/*.toml "$corpus/experiment_file/"
cp fuzz/fuzz_targets/run.json "$corpus/run_record/"
printf 'study = isr AND (psnr > 20 OR method IN (erm, irm)) AND NOT tag:baseline' > "$corpus/run_query/seed"
cp assets/data/poses/nerf_synthetic_lego/transforms_train.json "$corpus/transforms_json/"

targets=(experiment_file run_query run_record checkpoint transforms_json cache_entry)
# Its own target folder (fuzz/target): nightly, sanitizer-built code is kept apart.
unset CARGO_TARGET_DIR
cargo +nightly fuzz build
declare -A tried
for t in "${targets[@]}"; do
    echo "fuzzing $t for ${seconds}s"
    log="fuzz/artifacts/$t.log"
    mkdir -p fuzz/artifacts
    cargo +nightly fuzz run "$t" "$corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=1024 >"$log" 2>&1 || {
        tail -40 "$log"
        echo "fuzz: $t FAILED; the input is under fuzz/artifacts/$t/" >&2
        exit 1
    }
    tried[$t]=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)$/\1/p' "$log" | tail -1)
    [ -n "${tried[$t]}" ] || { echo "fuzz: $t printed no statistics (see $log)" >&2; exit 1; }
done
echo
printf '%-18s %14s\n' target 'inputs tried'
total=0
for t in "${targets[@]}"; do
    printf '%-18s %14s\n' "$t" "${tried[$t]}"
    total=$((total + tried[$t]))
done
printf '%-18s %14s\n' all "$total"
echo "no panic, sanitizer report or failed check in $total inputs (${seconds}s per target)"
