"""Agreement of two supernets, and their ranking against the stand-alone ground truth, for
the 50 reported architectures of docs/results/fmnist-full (r = 0.5).

usage: analyse.py REPORT_JSON NAME=RUN_DIR,RUN_DIR [NAME=RUN_DIR,RUN_DIR ...]
Each NAME is a pair of run directories, each with one supernet whose plain score cache
(supernet/KEY/scores/*.jsonl, settings without fine-tuning) holds the 50 architectures. Prints, per pair: the Spearman
of the two supernets by accuracy and by loss, and of their mean against stand-alone test
accuracy (mean over the 3 seeds), each with a 95% bootstrap interval (2000 resamples).
"""
import glob
import json
import sys

import numpy as np
from scipy.stats import spearmanr

report = json.load(open(sys.argv[1]))
archs = [a["arch"] for a in report["archs"]]
test = np.array([np.mean(a["test"]) for a in report["archs"]])


def scores(run):
    # The plain one-shot scores: the cache whose settings have no fine-tuning.
    (cache,) = [
        p
        for p in glob.glob(f"{run}/supernet/*/scores/*.jsonl")
        if len(open(p).readlines()) >= len(archs)
        and "finetune" not in json.load(open(p[: -len("l")]))
    ]
    by = {}
    for line in open(cache):
        s = json.loads(line)
        by[s["arch"]] = (s["accuracy"], s["loss"])
    return np.array([by[a][0] for a in archs]), np.array([by[a][1] for a in archs])


def boot(x, y, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    v = []
    for _ in range(n):
        i = rng.integers(0, len(x), len(x))
        v.append(spearmanr(x[i], y[i])[0])
    lo, hi = np.nanpercentile(v, [2.5, 97.5])
    return f"{spearmanr(x, y)[0]:.3f} [{lo:.3f}, {hi:.3f}]"


print("| pair | supernet vs supernet, accuracy | by loss | mean of 2 vs test, accuracy | by loss | one-shot accuracy (mean) |")
print("|---|---|---|---|---|---|")
for arg in sys.argv[2:]:
    name, runs = arg.split("=", 1)
    (a_acc, a_loss), (b_acc, b_loss) = (scores(r) for r in runs.split(","))
    print(
        f"| {name} | {boot(a_acc, b_acc)} | {boot(-a_loss, -b_loss)} "
        f"| {boot((a_acc + b_acc) / 2, test)} | {boot(-(a_loss + b_loss) / 2, test)} "
        f"| {np.mean((a_acc + b_acc) / 2):.4f} |"
    )
