#!/bin/bash
# Which seed makes supernets disagree: one supernet of the study's design at r = 0.5 with
# its initial weights from `seed = INIT` and its data order and path-dropout masks from
# `supernet.seed = ORDER` (the study moves both by the repeat), then the 50 reported
# architectures of ../../dropout/report.json scored one-shot: ../augment/run.sh's repeat 0
# with the two seeds overridden (a later `--set` wins). Run from the repository root, one
# thread per process:
#
#   NAS=target/release/nas docs/results/fmnist-full/experiments/seed-sources/run.sh INIT ORDER OUT
set -eu
INIT=$1; ORDER=$2; OUT=$3
EXTRA="--set seed=$INIT --set supernet.seed=$ORDER" "$(dirname "$0")/../augment/run.sh" 0 "$OUT"
