#!/usr/bin/env bash
# Install what Benchtop needs to build and test on Debian/Ubuntu: a C toolchain, git,
# Mesa's Vulkan drivers (the GPU path runs on the CPU driver where no GPU is present), the
# WebKitGTK libraries of the Tauri desktop app, Node.js for its UI, and Rust through rustup
# when cargo is missing. Extra Debian packages can be named as arguments (the test script
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
cargo --version

# The UI: exact versions from package-lock.json, built into ui/dist, which the app embeds.
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
