#!/usr/bin/env bash
# GPU checks and a short GPU benchmark, for a machine with an NVIDIA GPU and its driver:
#  1. the core supernet invariant (supernet with one architecture's paths on == stand-alone
#     model with copied weights) on the CUDA backend, and the same seed on CUDA against
#     Flex and NdArray: initial weights bit for bit, logits and one SGD step within
#     tolerances, with the largest differences printed (the cross_backend test);
#  2. `nas run --quick` on the GPU and on the CPU (flex), timed, with both reports kept;
#  3. `nas run` with the default settings on the GPU, timed (skip with NAS_GPU_QUICK_ONLY=1).
# Builds what it needs unless prebuilt binaries are named (the GPU machine may have no
# network): NAS_GPU_CROSS_BIN from `cargo test --release -p nas-backends --features cuda
# --test cross_backend --no-run`, NAS_GPU_TEST_BIN from `cargo test --release -p nas-backends --features cuda
# --no-run`, NAS_BIN from `cargo build --release -p nas-harness --features cuda`
# (target/release/nas). Results go to ${OUT:-gpu-results}/.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
export NAS_GPU_BACKEND="${NAS_GPU_BACKEND:-cuda:0}"

echo "== 1. supernet invariant on $NAS_GPU_BACKEND"
if [ -n "${NAS_GPU_TEST_BIN:-}" ]; then
  "$NAS_GPU_TEST_BIN" --ignored --nocapture core_invariant_on_gpu
else
  cargo test --release -p nas-backends --features cuda -- --ignored --nocapture core_invariant_on_gpu
fi
echo "== 1b. the same seed on CUDA and on the CPU backends (largest differences)"
if [ -n "${NAS_GPU_CROSS_BIN:-}" ]; then
  "$NAS_GPU_CROSS_BIN" --nocapture
else
  cargo test --release -p nas-backends --features cuda --test cross_backend -- --nocapture
fi

nas="${NAS_BIN:-}"
if [ -z "$nas" ]; then
  cargo build --release -p nas-harness --features cuda
  nas=target/release/nas
fi
timed() { # name, then the command
  local name=$1; shift
  local t0; t0=$(date +%s%N)
  "$@" > "$out/$name.stdout" 2> "$out/$name.stderr"
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "$name: ${ms} ms"
  echo "$name ${ms}" >> "$out/timings.txt"
}
echo "== 2. nas run --quick: GPU and CPU"
timed quick-gpu "$nas" run --quick --quiet --backend "$NAS_GPU_BACKEND" --out "$out/quick-gpu"
timed quick-cpu "$nas" run --quick --quiet --backend flex --out "$out/quick-cpu"
grep -h "best architecture\|test accuracy\|Spearman" "$out"/quick-*.stdout || true
if [ "${NAS_GPU_QUICK_ONLY:-0}" != 1 ]; then
  echo "== 3. nas run (defaults) on the GPU"
  timed default-gpu "$nas" run --quiet --backend "$NAS_GPU_BACKEND" --out "$out/default-gpu"
  cat "$out/default-gpu.stdout"
fi
