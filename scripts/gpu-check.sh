#!/usr/bin/env bash
# GPU checks, for a machine with an NVIDIA GPU and its driver: the core supernet invariant
# (supernet with one architecture's paths on == stand-alone model with copied weights) on
# the CUDA backend. Builds the test binary unless NAS_GPU_TEST_BIN names a prebuilt one
# (built with `cargo test --release -p nas-backends --features cuda --no-run`).
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
export NAS_GPU_BACKEND="${NAS_GPU_BACKEND:-cuda:0}"
if [ -n "${NAS_GPU_TEST_BIN:-}" ]; then
  "$NAS_GPU_TEST_BIN" --ignored --nocapture core_invariant_on_gpu
else
  cargo test --release -p nas-backends --features cuda -- --ignored --nocapture core_invariant_on_gpu
fi
