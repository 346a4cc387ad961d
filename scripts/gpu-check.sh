#!/usr/bin/env bash
# GPU checks and a short GPU benchmark, for a machine with an NVIDIA GPU and its driver.
# Both CUDA paths, side by side: burn's own CUDA backend (`cuda:0`, a build with
# `--features cuda`) and LibTorch on the GPU (`tch:cuda:0`, a build with `--features tch`
# against the machine's PyTorch):
#  1. the core supernet invariant (supernet with one architecture's paths on == stand-alone
#     model with copied weights) on `cuda:0`, and the same seed on CUDA against Flex and
#     NdArray: initial weights bit for bit, logits and one SGD step within tolerances, with
#     the largest differences printed (the cross_backend test; a skipped CUDA fails here);
#  2. the invariant on `tch:cuda:0`, and the same seed on `tch:cuda:0` against the CPU
#     backends with TF32 off (NVIDIA_TF32_OVERRIDE=0: cuDNN's convolutions run in TF32 by
#     default on Ampere and later GPUs, which the tolerances do not allow for);
#  3. `nas run --quick` on cuda:0, on tch:cuda:0 and on the CPU (flex), timed, reports kept;
#  4. bench/compare.py on the GPU: each CUDA path against PyTorch on the same GPU, the
#     four workloads at both sizes;
#  5. `nas run` with the default settings on cuda:0, timed (skip with NAS_GPU_QUICK_ONLY=1).
# Every step runs even when an earlier one failed; the script ends with a summary and fails
# if any step did. Each step is stopped after NAS_GPU_STEP_TIMEOUT seconds (default 600).
#
# Builds what it needs unless prebuilt binaries are named (a GPU machine may have no
# network or no Rust):
#   NAS_GPU_TEST_BIN   cargo test --release -p nas-backends --features cuda --test backends --no-run
#   NAS_GPU_CROSS_BIN  cargo test --release -p nas-backends --features cuda --test cross_backend --no-run
#   NAS_BIN            cargo build --release -p nas-harness --features cuda   (target/release/nas)
#   NAS_THROUGHPUT_BIN cargo build --release -p nas-core --features cuda --example throughput
#   NAS_TCH_BIN, NAS_TCH_TEST_BIN, NAS_TCH_CROSS_BIN, NAS_TCH_THROUGHPUT_BIN: the same with --features tch,
#     built against the PyTorch the GPU machine has (see docs/performance.md, "CUDA"); the
#     tch steps are skipped, saying so, when NAS_TCH_BIN is unset and NAS_GPU_BUILD_TCH is
#     not 1. That build takes libtorch from `python3`'s PyTorch; for another version than
#     the 2.9.0 that tch 0.22 expects, add LIBTORCH_BYPASS_VERSION_CHECK=1 (2.11.0 worked). LD_LIBRARY_PATH gets that PyTorch's torch/lib when `python3 -c 'import torch'`
#     works.
# Results go to ${OUT:-gpu-results}/.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
limit="${NAS_GPU_STEP_TIMEOUT:-600}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
export NAS_GPU_BACKEND="${NAS_GPU_BACKEND:-cuda:0}"
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)
if [ -n "$torch_lib" ]; then
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "PyTorch: $(python3 -c 'import torch; print(torch.__version__)') at $torch_lib"
fi

failed=()
passed=()
step() { # name, then the command; runs it under the time limit and records the outcome
  local name=$1; shift
  echo "== $name"
  local t0; t0=$(date +%s%N)
  timeout "$limit" bash -c '"$@"' step "$@"
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "$name ${ms} ms rc=$rc" >> "$out/timings.txt"
  if [ "$rc" = 0 ]; then passed+=("$name (${ms} ms)"); else failed+=("$name (rc $rc)"); fi
}
timed_run() { # name, the nas binary, then nas run's arguments; keeps stdout and stderr
  local name=$1 nas=$2; shift 2
  "$nas" run --quiet "$@" --out "$out/$name" > "$out/$name.stdout" 2> "$out/$name.stderr"
  local rc=$?
  tail -n 20 "$out/$name.stdout"
  [ "$rc" = 0 ] || tail -n 20 "$out/$name.stderr"
  return "$rc"
}
cross() { # WANT, then the cross-backend test; fails unless WANT was compared with the CPU
  local want=$1 log; shift
  log="$out/cross_backend-${want%%:*}.log"
  "$@" --nocapture 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  if ! grep -q "^$want vs " "$log"; then
    echo "$want was not compared with the CPU backends (no device?)"
    return 1
  fi
  return "$rc"
}
export -f timed_run cross
export out

# The cuda build.
test_bin="${NAS_GPU_TEST_BIN:-}"
cross_bin="${NAS_GPU_CROSS_BIN:-}"
nas="${NAS_BIN:-}"
tp="${NAS_THROUGHPUT_BIN:-}"
if [ -z "$test_bin" ] || [ -z "$cross_bin" ] || [ -z "$nas" ] || [ -z "$tp" ]; then
  cargo build --release -p nas-harness --features cuda
  cargo build --release -p nas-core --features cuda --example throughput
  nas=${nas:-target/release/nas}
  tp=${tp:-target/release/examples/throughput}
  bins=$(cargo test --release -p nas-backends --features cuda --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])')
  test_bin=${test_bin:-$(awk '$1 == "backends" {print $2}' <<<"$bins")}
  cross_bin=${cross_bin:-$(awk '$1 == "cross_backend" {print $2}' <<<"$bins")}
fi
# The tch build, when asked for.
tch_nas="${NAS_TCH_BIN:-}"
tch_test="${NAS_TCH_TEST_BIN:-}"
tch_cross="${NAS_TCH_CROSS_BIN:-}"
tch_tp="${NAS_TCH_THROUGHPUT_BIN:-}"
if [ -z "$tch_nas" ] && [ "${NAS_GPU_BUILD_TCH:-0}" = 1 ]; then
  export LIBTORCH_USE_PYTORCH=1
  CARGO_TARGET_DIR=target/tch cargo build --release -p nas-harness --features tch &&
    CARGO_TARGET_DIR=target/tch cargo build --release -p nas-core --features tch --example throughput
  tch_nas=target/tch/release/nas
  tch_tp=target/tch/release/examples/throughput
  bins=$(CARGO_TARGET_DIR=target/tch cargo test --release -p nas-backends --features tch --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])')
  tch_test=$(awk '$1 == "backends" {print $2}' <<<"$bins")
  tch_cross=$(awk '$1 == "cross_backend" {print $2}' <<<"$bins")
fi

step "1. supernet invariant on $NAS_GPU_BACKEND" \
  env NAS_GPU_BACKEND="$NAS_GPU_BACKEND" "$test_bin" --ignored --nocapture core_invariant_on_gpu
step "1b. the same seed on CUDA and on the CPU backends" cross "$NAS_GPU_BACKEND" "$cross_bin"
if [ -n "$tch_test" ]; then
  step "2. supernet invariant on tch:cuda:0" \
    env NAS_GPU_BACKEND=tch:cuda:0 "$tch_test" --ignored --nocapture core_invariant_on_gpu
else
  echo "== 2. skipped: no tch test binary (NAS_TCH_TEST_BIN)"
fi
if [ -n "$tch_cross" ]; then
  step "2b. the same seed on tch:cuda:0 and on the CPU backends, TF32 off" \
    env NVIDIA_TF32_OVERRIDE=0 bash -c 'cross tch:cuda:0 "$0"' "$tch_cross"
fi

step "3a. nas run --quick on $NAS_GPU_BACKEND" timed_run quick-cuda "$nas" --quick --backend "$NAS_GPU_BACKEND"
if [ -n "$tch_nas" ]; then
  step "3b. nas run --quick on tch:cuda:0" timed_run quick-tch-cuda "$tch_nas" --quick --backend tch:cuda:0
fi
step "3c. nas run --quick on flex (CPU)" timed_run quick-flex "$nas" --quick --backend flex

threads=$(nproc)
step "4a. throughput: cuda against PyTorch on the GPU" \
  python3 bench/compare.py --backend cuda --exe "$tp" --threads "$threads" \
  --rounds "${NAS_GPU_ROUNDS:-2}" --seconds "${NAS_GPU_SECONDS:-2}" --json "$out/compare-cuda.json"
if [ -n "$tch_tp" ]; then
  step "4b. throughput: tch-cuda against PyTorch on the GPU" \
    python3 bench/compare.py --backend tch-cuda --exe "$tch_tp" --threads "$threads" \
    --rounds "${NAS_GPU_ROUNDS:-2}" --seconds "${NAS_GPU_SECONDS:-2}" --json "$out/compare-tch-cuda.json"
fi

if [ "${NAS_GPU_QUICK_ONLY:-0}" != 1 ]; then
  step "5. nas run (defaults) on $NAS_GPU_BACKEND" timed_run default-cuda "$nas" --backend "$NAS_GPU_BACKEND"
fi

echo "== summary"
for p in "${passed[@]}"; do echo "passed: $p"; done
for f in "${failed[@]}"; do echo "FAILED: $f"; done
[ "${#failed[@]}" = 0 ]
