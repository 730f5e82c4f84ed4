#!/usr/bin/env bash
# Where each model shape of the throughput benchmark spends its time, as a Markdown table:
# the cores it kept busy (perf stat's task-clock over wall time) and the share of CPU samples
# per kind of work (perf record, self time, grouped by symbol). Needs `perf` (linux-perf).
# Arguments keep only the shapes whose names contain one of them. `--libtorch` first
# profiles burn on the opt-in LibTorch backend instead of burn-flex (built and run under
# scripts/with-libtorch.sh; perf then names each sample's library, which tells LibTorch's
# OpenMP pool and oneDNN's generated kernels apart).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
backend=cpu features=() run=() sort=symbol
if [ "${1:-}" = "--libtorch" ]; then
  shift
  backend=libtorch features=(--features benchtop-studies/libtorch) run=(scripts/with-libtorch.sh) sort=dso,symbol
fi
bin=$("${run[@]}" cargo test --workspace --bench throughput "${features[@]}" --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| shape | cores busy | gemm (matmul, conv) | conv other | element-wise | reductions | copies, layout | autodiff, dispatch, optimiser | allocator, kernel | pool waiting | host side | other |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for shape in $("${run[@]}" "$bin" --list "$@"); do
  cores=$("${run[@]}" perf stat -e task-clock "$bin" --repeat=1 --backend=$backend "$shape" 2>&1 >/dev/null | sed -n 's/.*# *\([0-9.]*\) *CPUs utilized.*/\1/p')
  "${run[@]}" perf record -q -F 499 -o "$work/perf.data" "$bin" --repeat=1 --backend=$backend "$shape" >/dev/null 2>&1
  perf report -i "$work/perf.data" --no-children --sort $sort --stdio 2>/dev/null |
    python3 "$root/scripts/profile_groups.py" "$shape" "$cores"
done
