#!/bin/bash
# Which seed makes supernets disagree: one supernet of the study's design at r = 0.5 with
# its initial weights from `seed = INIT` and its data order and path-dropout masks from
# `supernet.seed = ORDER` (the study moves both by the repeat), then the 50 reported
# architectures of ../../dropout/report.json scored one-shot by `nas eval`. Run from the
# repository root, one thread per process:
#
#   NAS=target/release/nas docs/results/fmnist-full/experiments/seed-sources/run.sh INIT ORDER OUT
set -eu
INIT=$1; ORDER=$2; OUT=$3
NAS=${NAS:-target/release/nas}
HERE=$(dirname "$0")
BASE=(--config configs/fmnist-full.toml --set supernet.drop_path.r_max=0.5
      --set seed="$INIT" --set supernet.seed="$ORDER")
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
