"""Every pair of supernets, and every split into two halves, of a one-rate dropout study.

    python3 splits.py supernets-4/report.json

Spearman (scipy) between single supernets and between the means of two disjoint halves,
by one-shot accuracy and by minus the one-shot loss, over the reported sample; and each
supernet, and the mean of all, against the stand-alone test accuracy (mean over seeds).
"""
import itertools
import json
import sys

from scipy.stats import spearmanr

report = json.load(open(sys.argv[1]))
rate = report["rates"][0]
test = [sum(a["test"]) / len(a["test"]) for a in report["archs"]]
for name, key, sign in [("accuracy", "scores_by_supernet", 1), ("loss", "losses_by_supernet", -1)]:
    nets = [[sign * v for v in s] for s in rate.get(key, [])]
    k = len(nets)
    if k < 2:
        continue
    pairs = [spearmanr(nets[i], nets[j])[0] for i, j in itertools.combinations(range(k), 2)]
    print(f"{name}: single pairs {[round(float(p), 3) for p in pairs]}, mean {sum(pairs) / len(pairs):.3f}")
    if k >= 4:
        splits = []
        for a in itertools.combinations(range(1, k), k // 2 - 1):
            a = (0,) + a
            b = [i for i in range(k) if i not in a]
            mean = lambda idx: [sum(nets[i][j] for i in idx) / len(idx) for j in range(len(test))]
            splits.append(round(float(spearmanr(mean(a), mean(b))[0]), 3))
        print(f"{name}: mean of {k // 2} vs mean of the other {k // 2}, every split: {splits}")
    each = [round(float(spearmanr(n, test)[0]), 3) for n in nets]
    print(f"{name}: each supernet vs test {each}, mean of all vs test "
          f"{spearmanr([sum(c) for c in zip(*nets)], test)[0]:.3f}")
