#!/usr/bin/env bash
# Sets up the LibTorch backend (`--features tch`): a virtual environment with the PyTorch
# that burn-tch 0.21 builds against, and a file of environment variables to `source`
# before building or running with it.
#
#   scripts/setup-libtorch.sh            # creates .venv-libtorch/ and .venv-libtorch/env.sh
#   source .venv-libtorch/env.sh
#   cargo build --release -p nas-harness --features tch
#   target/release/nas run --backend tch:cpu      # or tch:cuda:0 on a GPU machine
#
# PyPI's torch wheel for Linux carries CUDA (about 3 GB with its nvidia-* wheels); the same
# build runs on the CPU and, where a GPU and driver are present, on CUDA.
# Environment: VENV (default .venv-libtorch), PYTHON (default python3).
set -euo pipefail

TORCH_VERSION=2.9.0
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv-libtorch}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import venv' 2>/dev/null; then
    echo "setup-libtorch: '$python' cannot create virtual environments (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "setup-libtorch: creating $venv"
    "$python" -m venv "$venv"
fi
have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
if [ "$have" != "$TORCH_VERSION" ]; then
    # The wheels are about 3 GB to download and 7 GB installed; pip's cache would keep a
    # second copy of the download, so it is not used.
    need_kb=$((11 * 1024 * 1024))
    free_kb=$(df -Pk "$(dirname "$venv")" | awk 'NR == 2 { print $4 }')
    if [ -n "$free_kb" ] && [ "$free_kb" -lt "$need_kb" ]; then
        echo "setup-libtorch: $((free_kb / 1024 / 1024)) GiB free under $(dirname "$venv"); installing torch==$TORCH_VERSION needs about 11 GiB (download and install)" >&2
        exit 1
    fi
    echo "setup-libtorch: installing torch==$TORCH_VERSION into $venv (about 3 GB to download, 7 GB installed)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "torch==$TORCH_VERSION"
fi
lib="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
if [ ! -f "$lib/libtorch_cpu.so" ]; then
    echo "setup-libtorch: no libtorch_cpu.so in $lib" >&2
    exit 1
fi

cat > "$venv/env.sh" <<EOF
# Written by scripts/setup-libtorch.sh: source it before building or running with --features tch.
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:\$PATH"
# torch-sys takes libtorch from this environment's PyTorch.
export LIBTORCH_USE_PYTORCH=1
# Where the nas binary's libtorch is (it also records this path as its rpath).
export NAS_LIBTORCH_LIB="$lib"
export LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
echo "setup-libtorch: torch $TORCH_VERSION in $venv; now run:"
echo "    source $venv/env.sh"
echo "    cargo build --release -p nas-harness --features tch"
