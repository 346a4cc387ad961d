"""Fine-tuned one-shot scores against plain ones, on the 50 reported architectures of
docs/results/fmnist-full at r = 0.5, two supernets (repeats 0 and 1 of the study).

    python3 analyse.py collect RUN_DIR [RUN_DIR ...] > scores.csv
    python3 analyse.py table ../../dropout/report.json scores.csv

`collect` reads each run directory's score caches (supernet/KEY/scores/EVAL.json and
.jsonl, written by `nas eval`) and writes one row per supernet, setting and architecture.
`table` prints, per supernet and setting, Spearman (scipy) against the stand-alone test
accuracy (mean of the study's 3 seeds) with a 95% bootstrap interval (2000 resamples of
the architectures, seed 0), and per setting the agreement of the two supernets.
"""
import csv
import glob
import json
import os
import sys

import numpy as np
from scipy.stats import kendalltau, spearmanr


def setting_of(setup):
    ft = setup.get("finetune") or {}
    if not ft.get("steps"):
        return "none"
    start = " from scratch" if ft.get("from") == "scratch" else ""
    return f"{ft['steps']} steps at lr {ft['optim']['lr']:g}{start}"


def collect(runs):
    out = csv.writer(sys.stdout)
    out.writerow(["supernet", "setting", "finetune_seed", "arch", "accuracy", "loss", "examples"])
    for run in runs:
        for meta in sorted(glob.glob(os.path.join(run, "supernet/*/scores/*.json"))):
            key = meta.split("/")[-3]
            setup = json.load(open(meta))
            seed = (setup.get("finetune") or {}).get("seed", "")
            for line in open(meta[:-5] + ".jsonl"):
                s = json.loads(line)
                out.writerow([key, setting_of(setup), seed, s["arch"], s["accuracy"], s["loss"], s["examples"]])


def interval(x, y, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(x), len(x))
        vals.append(spearmanr(x[i], y[i])[0])
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return f"{spearmanr(x, y)[0]:.3f} [{lo:.3f}, {hi:.3f}]"


def table(report_path, scores_path):
    report = json.load(open(report_path))
    archs = [a["arch"] for a in report["archs"]]
    test = np.array([np.mean(a["test"]) for a in report["archs"]])
    params = np.array([a["params"] for a in report["archs"]])
    rate = next(r for r in report["rates"] if abs(r["rate"] - 0.5) < 1e-9)
    keys = [rate["supernet"]] + rate.get("supernet_repeats", [])
    published = dict(zip(keys, map(np.array, rate.get("scores_by_supernet", []))))
    rows = {}
    for r in csv.DictReader(open(scores_path)):
        rows.setdefault((r["supernet"], r["setting"]), {})[r["arch"]] = r
    cols = {}
    for (key, setting), by_arch in rows.items():
        if not all(a in by_arch for a in archs):
            print(f"{key}, {setting}: {sum(a in by_arch for a in archs)} of 50 scored; left out")
            continue
        acc = np.array([float(by_arch[a]["accuracy"]) for a in archs])
        neg_loss = -np.array([float(by_arch[a]["loss"]) for a in archs])
        cols[(key, setting)] = (acc, neg_loss)
    def rank(s):
        steps = int(s.split()[0]) if s[0].isdigit() else 0
        return (s != "none", "scratch" in s, steps, s)

    order = sorted({s for _, s in cols}, key=rank)
    supernets = sorted({k for k, _ in cols}, key=keys.index)
    print("| supernet | fine-tuning | mean score | Spearman vs test [95% CI] | by loss | Kendall | "
          "vs the same supernet's plain scores | vs params |")
    print("|---|---|---|---|---|---|---|---|")
    for setting in order:
        for key in supernets:
            if (key, setting) not in cols:
                continue
            acc, nl = cols[(key, setting)]
            plain = cols.get((key, "none"), (acc,))[0]
            print(f"| `{key}` | {setting} | {acc.mean():.4f} | {interval(acc, test)} | "
                  f"{interval(nl, test)} | {kendalltau(acc, test)[0]:.3f} | "
                  f"{spearmanr(acc, plain)[0]:.3f} | {spearmanr(acc, params)[0]:.3f} |")
    print()
    print("| fine-tuning | one supernet vs the other: by accuracy | by loss | "
          "mean of the two vs test | by loss |")
    print("|---|---|---|---|---|")
    for setting in order:
        pair = [cols[(k, setting)] for k in supernets if (k, setting) in cols]
        if len(pair) < 2:
            continue
        (a1, l1), (a2, l2) = pair[:2]
        print(f"| {setting} | {interval(a1, a2)} | {interval(l1, l2)} | "
              f"{interval((a1 + a2) / 2, test)} | {interval((l1 + l2) / 2, test)} |")
    print()
    # Paired: the same bootstrap resamples of the architectures for both rankings.
    contenders = {"the published one-shot mean of 4 supernets": np.mean(list(published.values()), axis=0)}
    for setting in order:
        pair = [cols[(k, setting)][0] for k in supernets if (k, setting) in cols]
        if len(pair) >= 2:
            contenders[f"mean of 2, {setting}"] = (pair[0] + pair[1]) / 2
    names = list(contenders)
    rng = np.random.default_rng(0)
    idx = [rng.integers(0, len(test), len(test)) for _ in range(2000)]
    base = names[0]
    print(f"| paired difference, Spearman vs test: {base} minus ... | difference [95% CI] |")
    print("|---|---|")
    for other in names[1:]:
        a, b = contenders[base], contenders[other]
        d = spearmanr(a, test)[0] - spearmanr(b, test)[0]
        ds = [spearmanr(a[i], test[i])[0] - spearmanr(b[i], test[i])[0] for i in idx]
        lo, hi = np.nanpercentile(ds, [2.5, 97.5])
        print(f"| {other} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    print()
    for key in supernets:
        if (key, "none") in cols and key in published:
            acc = cols[(key, "none")][0]
            print(f"- `{key}` plain, against the published scores of the supernet of the same "
                  f"key: Spearman {spearmanr(acc, published[key])[0]:.3f}, largest difference "
                  f"{np.abs(acc - published[key]).max():.4f}")
    seeds = [[a["test"][i] for a in report["archs"]] for i in range(2)]
    print(f"- stand-alone seed 1 vs seed 2 (test): {interval(np.array(seeds[0]), np.array(seeds[1]))}; "
          f"params vs test: {interval(params, test)}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "collect":
        collect(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
