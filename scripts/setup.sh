#!/usr/bin/env bash
# Install what Benchtop needs to build and test on Debian/Ubuntu: a C toolchain, git,
# Mesa's Vulkan drivers (the GPU path runs on the CPU driver where no GPU is present),
# and Rust through rustup when cargo is missing. Extra Debian packages can be named as
# arguments (the test script adds a TeX engine). Safe to run again: it skips what is there.
set -euo pipefail

packages=(build-essential pkg-config git curl ca-certificates mesa-vulkan-drivers libvulkan1 "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
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
