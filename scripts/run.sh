#!/usr/bin/env bash
# Set up, build and open the Benchtop desktop app on its defaults: the run store in your
# data dir (or $BENCHTOP_STORE), the CPU backend, the presets and data built in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# The same package selection as the tests, so building one builds the other.
cargo build --workspace --locked
target="${CARGO_TARGET_DIR:-target}"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display; starting the app under Xvfb (xvfb-run)" >&2
  command -v xvfb-run >/dev/null 2>&1 || bash scripts/setup.sh xvfb xauth
  exec xvfb-run -a "$target/debug/benchtop-app" "$@"
fi
exec "$target/debug/benchtop-app" "$@"
