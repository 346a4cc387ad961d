"""Which seed makes supernets disagree: pairs of supernets (r = 0.5, 50 reported
architectures of docs/results/fmnist-full) that share their initial weights, that share
their data order and path-dropout masks, or share neither.

    python3 analyse.py ../../dropout/report.json scores.csv

scores.csv: one row per supernet (init_seed = the configuration's `seed`, order_seed =
`supernet.seed`) and architecture, collected from the run directories of run.sh (and the
(0, 0) supernet, the study's repeat 0, from ../supernets-8). Prints Spearman (scipy) for
every pair of each kind, by one-shot accuracy and by minus the one-shot loss, and each
supernet against the stand-alone test accuracy (mean of the study's 3 seeds).
"""
import csv
import itertools
import json
import sys

import numpy as np
from scipy.stats import spearmanr

report = json.load(open(sys.argv[1]))
archs = [a["arch"] for a in report["archs"]]
test = np.array([np.mean(a["test"]) for a in report["archs"]])
by = {}
for r in csv.DictReader(open(sys.argv[2])):
    by.setdefault((int(r["init_seed"]), int(r["order_seed"])), {})[r["arch"]] = r
nets = sorted(by)
kinds = {
    "same initial weights, other data order and masks": lambda a, b: a[0] == b[0] and a[1] != b[1],
    "same data order and masks, other initial weights": lambda a, b: a[0] != b[0] and a[1] == b[1],
    "both differ": lambda a, b: a[0] != b[0] and a[1] != b[1],
}
print("| pairs | n | by accuracy: mean [min, max] | by loss: mean [min, max] |")
print("|---|---|---|---|")
for kind, test_pair in kinds.items():
    pairs = [(a, b) for a, b in itertools.combinations(nets, 2) if test_pair(a, b)]
    cells = []
    for col, sign in [("accuracy", 1), ("loss", -1)]:
        v = [
            spearmanr([sign * float(by[a][x][col]) for x in archs],
                      [sign * float(by[b][x][col]) for x in archs])[0]
            for a, b in pairs
        ]
        cells.append(f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]")
    print(f"| {kind} | {len(pairs)} | {cells[0]} | {cells[1]} |")
print()
for n in nets:
    acc = [float(by[n][x]["accuracy"]) for x in archs]
    print(f"supernet init {n[0]}, order {n[1]}: vs test {spearmanr(acc, test)[0]:.3f}")
