#!/bin/bash
# One supernet of the study at r = 0.5 (repeat R: its seeds moved by R, as the study moves
# them), then the 50 reported architectures scored by `nas eval` once per fine-tuning
# setting. Run from the repository root:
#
#   NAS=target/release/nas EXTRA='--set search.finetune.optim.lr=0.1' \
#       docs/results/fmnist-full/experiments/finetune/run.sh R OUT STEPS [STEPS ...]
#
# STEPS 0 scores plain one-shot. EXTRA adds settings (e.g. the learning rate, or
# `--set search.finetune.from="scratch" --set search.finetune.seed=R`). One thread per
# process (two repeats ran side by side on 2 cores).
set -eu
R=$1; OUT=$2; shift 2
NAS=${NAS:-target/release/nas}
HERE=$(dirname "$0")
BASE=(--config configs/fmnist-full.toml --set supernet.drop_path.r_max=0.5
      --set seed="$R" --set supernet.seed="$R")
export RAYON_NUM_THREADS=${THREADS:-1}
python3 -c "import json,sys; [print(a['arch']) for a in json.load(open(sys.argv[1]))['archs']]" \
    "$HERE/../../dropout/report.json" > "$OUT.archs"
start=$(date +%s)
"$NAS" train --out "$OUT" "${BASE[@]}" -q
for S in "$@"; do
  while read -r A; do
    # shellcheck disable=SC2086 # EXTRA is a list of options
    "$NAS" eval --out "$OUT" "${BASE[@]}" --set search.finetune.steps="$S" ${EXTRA:-} \
        --arch "$A" -q > /dev/null
  done < "$OUT.archs"
  echo "steps $S: done after $(( $(date +%s) - start )) s"
done
