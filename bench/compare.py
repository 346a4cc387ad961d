"""Side by side in one run: the project's networks on burn against the PyTorch reference,
with the same threads, on the same machine, alternating so that drift in the machine's
load hits both. Prints a Markdown table of images/s and the ratios ours / PyTorch.

    cargo build --release -p nas-core --example throughput
    python bench/compare.py [--sizes bench,default] [--seconds 3] [--threads 2]
                            [--rounds 3] [--backend flex[,ndarray,tch]] [--json out.json]
                            [--exe PATH]

`--backend` takes one backend or several, comma-separated: each round then runs every
workload of every backend and of PyTorch once, so all of them share the same stretch of
machine load (`tch` needs a build with `--features tch`, which has flex and ndarray too).
`--backend cuda` (a build with `--features cuda`) and `--backend tch-cuda` (`--features
tch`) run on the GPU, and the PyTorch reference then runs on the GPU too; CPU and GPU
backends do not mix in one run. `--exe` names a throughput binary built elsewhere (the
default is target/release/examples/throughput).

The table shows the median over rounds of each side's images/s, and for each backend the
ratio of the medians and its spread (min..max of the per-round ratio) as a noise estimate.
The trainable parameter counts of every side must agree, or the script fails.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ["supernet-all", "supernet-drop", "oneshot", "standalone"]
LABELS = {
    "supernet-all": "supernet step, all paths on",
    "supernet-drop": "supernet step, r = 0.125, 2 ghost batches",
    "oneshot": "one-shot scoring (batch 256)",
    "standalone": "stand-alone step",
}


def run_lines(cmd, env):
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit status {out.returncode}):\n{out.stderr[-3000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="bench,default")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", default="flex",
                    help="one or more of flex, ndarray, tch, tch-cuda, cuda, comma-separated")
    ap.add_argument("--json", help="also write every measurement here")
    ap.add_argument("--exe", help="the throughput binary (default: the release build's)")
    args = ap.parse_args()

    exe = Path(args.exe) if args.exe else ROOT / "target" / "release" / "examples" / "throughput"
    if not exe.exists():
        sys.exit(f"{exe} is missing: cargo build --release -p nas-core --example throughput")
    backends = [b for b in args.backend.split(",") if b]
    known = ["flex", "ndarray", "tch", "tch-cuda", "cuda"]
    bad = [b for b in backends if b not in known]
    if bad or not backends or len(set(backends)) != len(backends):
        sys.exit(f"--backend {args.backend!r}: give distinct backends out of {', '.join(known)}")
    gpu = {b in ("cuda", "tch-cuda") for b in backends}
    if len(gpu) != 1:
        sys.exit(f"--backend {args.backend!r}: CPU and GPU backends do not mix in one run "
                 "(the PyTorch reference runs on one device)")
    device = "cuda" if gpu.pop() else "cpu"
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads))
    sizes = args.sizes.split(",")
    rows = []  # every measurement
    for r in range(args.rounds):
        for size in sizes:
            sides = [(b, [str(exe), b, size, str(args.seconds)]) for b in backends]
            sides.append(("pytorch", [sys.executable, str(ROOT / "bench" / "reference.py"),
                                      size, str(args.seconds), str(args.threads), device]))
            for side, cmd in sides:
                for line in run_lines(cmd, env):
                    line.update(round=r, side=side)
                    rows.append(line)
                    print(f"round {r + 1}/{args.rounds} {size:<8} {side:<8} "
                          f"{line['workload']:<14} {line['images_per_s']:>9.1f} images/s",
                          file=sys.stderr, flush=True)

    def pick(size, workload, side):
        return sorted((x for x in rows if x["size"] == size and x["workload"] == workload
                       and x["side"] == side), key=lambda x: x["round"])

    def median(xs):
        return statistics.median(x["images_per_s"] for x in xs)

    print(f"\n{args.threads} threads, {args.rounds} rounds of {args.seconds:g} s per "
          f"workload, burn backends {', '.join(backends)}, PyTorch on {device}; "
          "medians over rounds\n")
    head = "| size | workload | params | PyTorch (images/s) |"
    rule = "| --- | --- | ---: | ---: |"
    for b in backends:
        head += f" {b} (images/s) | {b} / PyTorch | range |"
        rule += " ---: | ---: | --- |"
    print(head)
    print(rule)
    failed = False
    for size in sizes:
        for w in WORKLOADS:
            ref = pick(size, w, "pytorch")
            if not ref:
                continue
            line = f"| {size} | {LABELS[w]} | {ref[0]['params']:,} | {median(ref):.1f} |"
            for b in backends:
                ours = pick(size, w, b)
                if not ours:
                    line += " - | - | - |"
                    continue
                if ours[0]["params"] != ref[0]["params"]:
                    print(f"parameter counts differ for {size} {w}: {b} {ours[0]['params']}, "
                          f"PyTorch {ref[0]['params']}", file=sys.stderr)
                    failed = True
                per_round = [o["images_per_s"] / p["images_per_s"] for o, p in zip(ours, ref)]
                line += (f" {median(ours):.1f} | {median(ours) / median(ref):.2f} "
                         f"| {min(per_round):.2f}..{max(per_round):.2f} |")
            print(line)
    # Achieved FLOP/s where the work per image is known: the benchmark architecture's
    # forward multiply-adds (2 FLOP each); a training step counts as 3 forward passes.
    print("\n| size | workload | GFLOP/s PyTorch |" + "".join(f" GFLOP/s {b} |" for b in backends))
    print("| --- | --- | ---: |" + " ---: |" * len(backends))
    for size in sizes:
        for w, passes in [("oneshot", 1), ("standalone", 3)]:
            ref = pick(size, w, "pytorch")
            sides = [pick(size, w, b) for b in backends]
            if not ref or not all(sides) or "arch_macs_per_image" not in sides[0][0]:
                continue
            flop = 2 * passes * sides[0][0]["arch_macs_per_image"]
            line = f"| {size} | {LABELS[w]} | {median(ref) * flop / 1e9:.1f} |"
            line += "".join(f" {median(o) * flop / 1e9:.1f} |" for o in sides)
            print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
