#!/bin/bash
# 8 supernets of the study's design at r = 0.5 (repeats 0-7, seeds moved by the repeat as
# the study moves them), each trained and then scoring the 50 reported architectures of
# ../../dropout/report.json one-shot, by ../augment/run.sh (with the extra settings EXTRA,
# none by default). Two repeats at a time, one thread each. Run from the repository root:
#
#   NAS=target/release/nas docs/results/fmnist-full/experiments/supernets-8/run.sh OUT_PREFIX
#
# Writes the run directories OUT_PREFIX0 ... OUT_PREFIX7 and a log per repeat beside them.
# REPEATS (default 8, even) sets how many.
set -eu
PREFIX=$1
HERE=$(dirname "$0")
lane() {
  for R in "$@"; do
    EXTRA="${EXTRA:-}" "$HERE/../augment/run.sh" "$R" "$PREFIX$R" > "$PREFIX$R.log" 2>&1
  done
}
start=$(date +%s)
N=${REPEATS:-8}
# shellcheck disable=SC2046 # the word lists are numbers
lane $(seq 0 2 $((N - 1))) & a=$!
# shellcheck disable=SC2046
lane $(seq 1 2 $((N - 1))) & b=$!
wait $a; wait $b
echo "$N supernets trained and scored in $(( $(date +%s) - start )) s"
