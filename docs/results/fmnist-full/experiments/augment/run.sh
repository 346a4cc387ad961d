#!/bin/bash
# One supernet of the study's design at r = 0.5 (repeat R: its seeds moved by R, as the
# study moves them), trained with the extra settings EXTRA (e.g. augmentation), then the
# 50 reported architectures of ../../dropout/report.json scored one-shot by `nas eval`
# (plain scoring; the scores land in the supernet's score cache). Run from the repository
# root:
#
#   NAS=target/release/nas EXTRA="--set data.augment={crop_padding=1,horizontal_flip=true}" \
#       docs/results/fmnist-full/experiments/augment/run.sh R OUT
#
# One thread per process (two repeats ran side by side on 2 cores).
set -eu
R=$1; OUT=$2
NAS=${NAS:-target/release/nas}
HERE=$(dirname "$0")
# shellcheck disable=SC2206 # EXTRA is a list of options
BASE=(--config configs/fmnist-full.toml --set supernet.drop_path.r_max=0.5
      --set seed="$R" --set supernet.seed="$R" ${EXTRA:-})
export RAYON_NUM_THREADS=${THREADS:-1}
python3 -c "import json,sys; [print(a['arch']) for a in json.load(open(sys.argv[1]))['archs']]" \
    "$HERE/../../dropout/report.json" > "$OUT.archs"
start=$(date +%s)
"$NAS" train --out "$OUT" "${BASE[@]}" -q
echo "trained after $(( $(date +%s) - start )) s"
while read -r A; do
  "$NAS" eval --out "$OUT" "${BASE[@]}" --arch "$A" -q > /dev/null
done < "$OUT.archs"
echo "scored after $(( $(date +%s) - start )) s"
