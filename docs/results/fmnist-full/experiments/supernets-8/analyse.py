"""Eight supernets at r = 0.5 on the 50 reported architectures of docs/results/fmnist-full:
how well a one-shot model that averages k supernets agrees with another such model, and
how it ranks against the stand-alone ground truth.

    python3 analyse.py collect RUN_DIR0 ... RUN_DIR7 > scores.csv
    python3 analyse.py table ../../dropout/report.json scores.csv ../finetune/scores.csv

`collect` reads each run directory's plain score cache (supernet/KEY/scores/*.jsonl whose
settings have no fine-tuning, written by `nas eval`) and writes one row per supernet and
architecture; the repeat is the position of the run directory in the arguments.
`table` prints Spearman (scipy), by one-shot accuracy and by minus the one-shot loss:
- agreement of a mean of k supernets with the mean of k others (k = 1..4; every way of
  taking two disjoint groups of k out of the 8), against the Spearman-Brown prediction
  from the mean single pair, k r / (1 + (k - 1) r);
- each mean of k against stand-alone test accuracy (mean of the study's 3 seeds);
- the mean of all 8 against test (Spearman and Kendall tau-b), and its paired difference with the short training from
  scratch (50 steps, lr 0.1, mean of 2 seeds, from the finetune experiment's scores);
intervals: 95% bootstrap over the architectures (2000 resamples, seed 0).
"""
import csv
import glob
import itertools
import json
import os
import sys

import numpy as np
from scipy.stats import kendalltau, spearmanr


def collect(runs):
    out = csv.writer(sys.stdout)
    out.writerow(["repeat", "supernet", "arch", "accuracy", "loss", "examples"])
    for repeat, run in enumerate(runs):
        metas = [
            m
            for m in glob.glob(os.path.join(run, "supernet/*/scores/*.json"))
            if not (json.load(open(m)).get("finetune") or {}).get("steps")
        ]
        if len(metas) != 1:
            sys.exit(f"{run}: expected one plain score cache, found {len(metas)}")
        key = metas[0].split("/")[-3]
        for line in open(metas[0][:-5] + ".jsonl"):
            s = json.loads(line)
            out.writerow([repeat, key, s["arch"], s["accuracy"], s["loss"], s["examples"]])


def rho(x, y):
    return float(spearmanr(x, y)[0])


def tau(x, y):
    return float(kendalltau(x, y)[0])


def boot(x, y, n=2000, seed=0, f=rho):
    rng = np.random.default_rng(seed)
    v = [f(x[i], y[i]) for i in (rng.integers(0, len(x), len(x)) for _ in range(n))]
    lo, hi = np.nanpercentile(v, [2.5, 97.5])
    return f"{f(x, y):.3f} [{lo:.3f}, {hi:.3f}]"


def paired(x, z, y, n=2000, seed=0):
    """rho(x, y) - rho(z, y) on the same resamples."""
    rng = np.random.default_rng(seed)
    v = []
    for _ in range(n):
        i = rng.integers(0, len(x), len(x))
        v.append(rho(x[i], y[i]) - rho(z[i], y[i]))
    lo, hi = np.nanpercentile(v, [2.5, 97.5])
    return f"{rho(x, y) - rho(z, y):+.3f} [{lo:+.3f}, {hi:+.3f}]"


def spearman_brown(k, r):
    """The reliability of a mean of k from the mean single-pair agreement r."""
    return k * r / (1 + (k - 1) * r)


def table(report_path, scores_path, proxy_path):
    report = json.load(open(report_path))
    archs = [a["arch"] for a in report["archs"]]
    seeds = np.array([a["test"] for a in report["archs"]])
    test = seeds.mean(axis=1)
    rows = list(csv.DictReader(open(scores_path)))
    nets = sorted({int(r["repeat"]) for r in rows})
    by = {(int(r["repeat"]), r["arch"]): r for r in rows}
    missing = [(k, a) for k in nets for a in archs if (k, a) not in by]
    if missing:
        sys.exit(f"{len(missing)} scores missing, e.g. supernet {missing[0][0]}: {missing[0][1]}")
    acc = np.array([[float(by[k, a]["accuracy"]) for a in archs] for k in nets])
    loss = np.array([[-float(by[k, a]["loss"]) for a in archs] for k in nets])
    m = len(nets)
    # The mean Spearman over every pair of single supernets, per way of scoring.
    pair = {
        name: np.mean([rho(s[i], s[j]) for i, j in itertools.combinations(range(m), 2)])
        for name, s in [("accuracy", acc), ("loss", loss)]
    }
    print(f"{m} supernets, {len(archs)} architectures; one-shot accuracy per supernet (mean): "
          + ", ".join(f"{v:.4f}" for v in acc.mean(axis=1)))
    print()
    print("| by | k | mean of k vs mean of k others: mean [min, max] over the splits | splits "
          "| Spearman-Brown from the single pairs | mean of k vs test: mean [min, max] |")
    print("|---|---|---|---|---|---|")
    for name, s in [("accuracy", acc), ("loss", loss)]:
        for k in range(1, m // 2 + 1):
            agree = []
            for a in itertools.combinations(range(m), k):
                rest = [i for i in range(m) if i not in a]
                for b in itertools.combinations(rest, k):
                    if a < b:
                        agree.append(rho(s[list(a)].mean(0), s[list(b)].mean(0)))
            vs = [rho(s[list(a)].mean(0), test) for a in itertools.combinations(range(m), k)]
            sb = spearman_brown(k, pair[name])
            print(f"| {name} | {k} | {np.mean(agree):.3f} [{min(agree):.3f}, {max(agree):.3f}] "
                  f"| {len(agree)} | {sb:.3f} | {np.mean(vs):.3f} [{min(vs):.3f}, {max(vs):.3f}] |")
    print()
    half = m // 2
    for name, s in [("accuracy", acc), ("loss", loss)]:
        a, b = s[:half].mean(0), s[half:].mean(0)
        print(f"{name}: supernets 0-{half - 1} against {half}-{m - 1}: {boot(a, b)}; "
              f"mean of all {m} against test: {boot(s.mean(0), test)}, Kendall tau-b "
              f"{boot(s.mean(0), test, f=tau)}")
    r_seeds = np.mean([rho(seeds[:, i], seeds[:, j])
                       for i, j in itertools.combinations(range(seeds.shape[1]), 2)])
    n = seeds.shape[1]
    truth = spearman_brown(n, r_seeds)
    print(f"stand-alone: seed against seed {r_seeds:.3f} (mean of the pairs), so the mean of "
          f"{n} seeds has reliability {truth:.3f} (Spearman-Brown)")
    for name, s in [("accuracy", acc), ("loss", loss)]:
        rel = spearman_brown(m, pair[name])
        obs = rho(s.mean(0), test)
        print(f"{name}: reliability of the mean of {m} {rel:.3f}; ceiling with both sides' "
              f"noise sqrt({rel:.3f} x {truth:.3f}) = {np.sqrt(rel * truth):.3f}; measured "
              f"{obs:.3f}; corrected for both noises {obs / np.sqrt(rel * truth):.3f}")
    proxy = {}
    for r in csv.DictReader(open(proxy_path)):
        if r["setting"] == "50 steps at lr 0.1 from scratch":
            proxy.setdefault(r["arch"], []).append(float(r["accuracy"]))
    if all(len(proxy.get(a, [])) == 2 for a in archs):
        p = np.array([np.mean(proxy[a]) for a in archs])
        print(f"short training from scratch (50 steps, mean of 2 seeds) against test: {boot(p, test)}")
        for name, s in [("accuracy", acc), ("loss", loss)]:
            print(f"{name}: mean of {m} supernets minus the short training (paired): "
                  f"{paired(s.mean(0), p, test)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["collect"]:
        collect(sys.argv[2:])
    elif sys.argv[1:2] == ["table"] and len(sys.argv) == 5:
        table(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
