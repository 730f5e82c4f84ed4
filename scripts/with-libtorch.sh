#!/usr/bin/env bash
# Run a command with LibTorch's CPU kernels where burn's `tch` backend finds them, for the
# opt-in `libtorch` build (`--features benchtop-studies/libtorch`): its runs with
# backend = "libtorch" go through LibTorch (oneDNN convolutions, MKL matrix products,
# vectorised exp/erf) instead of burn-flex. Building and running that build both need it:
#
#   scripts/with-libtorch.sh cargo build --workspace --all-targets --features benchtop-studies/libtorch
#   scripts/with-libtorch.sh target/debug/benchtop run my-goat.toml   # a file with backend = "libtorch"
#
# burn-tch 0.22 is built for LibTorch 2.9, which this script takes from PyTorch's PyPI wheel
# (torch 2.9.0, the version tch 0.22 checks for; 900 MB, fetched once) into the user's
# cache folder, keeping only the CPU libraries and the headers (487 MB). The Linux wheel's CPU library also links CUDA's runtime and
# profiler interface (never called on the CPU), so those two small libraries come from their
# PyPI wheels too. The wheel's `libtorch.so` would pull in the 1 GB CUDA library; a stub
# linking only the CPU one stands in for it, which is what the CPU-only LibTorch ships.
# Not under the target folder: CI caches that folder and starts it over past 30 GB.
set -euo pipefail
version=2.9.0
home="${BENCHTOP_LIBTORCH:-${XDG_CACHE_HOME:-$HOME/.cache}/benchtop/libtorch-$version}"
if [ ! -f "$home/ready" ]; then
  echo "with-libtorch: preparing LibTorch $version (CPU) in $home" >&2
  # The wheels pinned below are PyTorch's Linux x86-64 ones.
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "with-libtorch: this script fetches LibTorch for Linux x86-64 only; elsewhere set LIBTORCH to a LibTorch $version" >&2
    exit 1
  fi
  for tool in python3 cc; do
    command -v "$tool" >/dev/null || { echo "with-libtorch: needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
  done
  python3 -m pip --version >/dev/null 2>&1 || { echo "with-libtorch: needs pip for python3 (scripts/setup.sh installs it)" >&2; exit 1; }
  # Only a folder this script made (or an empty one) is replaced: BENCHTOP_LIBTORCH may name
  # a folder of the user's own.
  if [ -e "$home" ] && [ ! -f "$home/.benchtop-libtorch" ] && [ -n "$(ls -A "$home" 2>/dev/null)" ]; then
    echo "with-libtorch: $home is not empty and was not made by this script; move it or set BENCHTOP_LIBTORCH" >&2
    exit 1
  fi
  wheels=$(mktemp -d)
  trap 'rm -rf "$wheels"' EXIT
  # Exact versions: the ones torch 2.9.0's wheel names for Linux x86-64.
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheels" \
    "torch==$version" nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
  rm -rf "$home" && mkdir -p "$home/lib" && touch "$home/.benchtop-libtorch"
  python3 - "$wheels" "$home" <<'PY'
import glob, os, shutil, sys, zipfile
wheels, home = sys.argv[1], sys.argv[2]
keep = {"libtorch_cpu.so", "libc10.so", "libgomp.so.1", "libcudart.so.12", "libcupti.so.12"}
for wheel in glob.glob(os.path.join(wheels, "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            if not base:
                continue
            if name.startswith("torch/include/"):
                target = os.path.join(home, name[len("torch/"):])
            elif base in keep and "/lib/" in name:
                target = os.path.join(home, "lib", base)
            else:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
missing = keep - set(os.listdir(os.path.join(home, "lib")))
if missing:
    sys.exit(f"with-libtorch: the wheels lacked {sorted(missing)}")
PY
  echo 'void benchtop_libtorch_cpu_stub(void) {}' > "$wheels/stub.c"
  cc -shared -fPIC -o "$home/lib/libtorch.so" "$wheels/stub.c" -Wl,--no-as-needed -L"$home/lib" -ltorch_cpu -lc10
  # tch's build reads this to check the version it links against.
  echo "$version" > "$home/build-version"
  touch "$home/ready"
  # `exec` below skips the EXIT trap: the 900 MB of wheels go now.
  rm -rf "$wheels"
  trap - EXIT
fi
export LIBTORCH="$home" LIBTORCH_CXX11_ABI=1
export LD_LIBRARY_PATH="$home/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
