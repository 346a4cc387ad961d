"""Side by side in one run: the project's networks on burn against the PyTorch reference,
with the same threads, on the same machine, alternating so that drift in the machine's
load hits both. Prints a Markdown table of images/s and the ratios ours / PyTorch.

    cargo build --release -p nas-core --example throughput
    python bench/compare.py [--sizes bench,default] [--seconds 3] [--threads 2]
                            [--rounds 3] [--backend flex] [--json out.json] [--exe PATH]

`--backend cuda` (a build with `--features cuda`) and `--backend tch-cuda` (`--features tch`)
run on the GPU, and the PyTorch reference then runs on the GPU too; `--exe` names a
throughput binary built elsewhere (the default is target/release/examples/throughput).

Each round runs every workload of both implementations once; the table shows the median
over rounds, and the spread (min..max of the ratio over rounds) as a noise estimate.
The trainable parameter counts of the two must agree, or the script fails.
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
                    choices=["flex", "ndarray", "tch", "tch-cuda", "cuda"])
    ap.add_argument("--json", help="also write every measurement here")
    ap.add_argument("--exe", help="the throughput binary (default: the release build's)")
    args = ap.parse_args()

    exe = Path(args.exe) if args.exe else ROOT / "target" / "release" / "examples" / "throughput"
    if not exe.exists():
        sys.exit(f"{exe} is missing: cargo build --release -p nas-core --example throughput")
    device = "cuda" if args.backend in ("cuda", "tch-cuda") else "cpu"
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads))
    sizes = args.sizes.split(",")
    rows = []  # every measurement
    for r in range(args.rounds):
        for size in sizes:
            for impl, cmd in [
                ("ours", [str(exe), args.backend, size, str(args.seconds)]),
                ("pytorch", [sys.executable, str(ROOT / "bench" / "reference.py"), size,
                             str(args.seconds), str(args.threads), device]),
            ]:
                for line in run_lines(cmd, env):
                    line.update(round=r, side=impl)
                    rows.append(line)
                    print(f"round {r + 1}/{args.rounds} {size:<8} {impl:<8} "
                          f"{line['workload']:<14} {line['images_per_s']:>9.1f} images/s",
                          file=sys.stderr, flush=True)

    def pick(size, workload, side):
        return [x for x in rows if x["size"] == size and x["workload"] == workload
                and x["side"] == side]

    print(f"\n{args.threads} threads, {args.rounds} rounds of {args.seconds:g} s per "
          f"workload, burn backend {args.backend}, PyTorch on {device}; medians over rounds\n")
    print("| size | workload | params | ours (images/s) | PyTorch (images/s) "
          "| ours / PyTorch | range over rounds |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    failed = False
    for size in sizes:
        for w in WORKLOADS:
            ours, ref = pick(size, w, "ours"), pick(size, w, "pytorch")
            if not ours or not ref:
                continue
            if ours[0]["params"] != ref[0]["params"]:
                print(f"parameter counts differ for {size} {w}: ours {ours[0]['params']}, "
                      f"PyTorch {ref[0]['params']}", file=sys.stderr)
                failed = True
            a = statistics.median(x["images_per_s"] for x in ours)
            b = statistics.median(x["images_per_s"] for x in ref)
            per_round = [o["images_per_s"] / p["images_per_s"]
                         for o, p in zip(sorted(ours, key=lambda x: x["round"]),
                                         sorted(ref, key=lambda x: x["round"]))]
            print(f"| {size} | {LABELS[w]} | {ours[0]['params']:,} | {a:.1f} | {b:.1f} "
                  f"| {a / b:.2f} | {min(per_round):.2f}..{max(per_round):.2f} |")
    # Achieved FLOP/s where the work per image is known: the benchmark architecture's
    # forward multiply-adds (2 FLOP each); a training step counts as 3 forward passes.
    print("\n| size | workload | GFLOP/s ours | GFLOP/s PyTorch |")
    print("| --- | --- | ---: | ---: |")
    for size in sizes:
        for w, passes in [("oneshot", 1), ("standalone", 3)]:
            ours, ref = pick(size, w, "ours"), pick(size, w, "pytorch")
            if not ours or not ref or "arch_macs_per_image" not in ours[0]:
                continue
            flop = 2 * passes * ours[0]["arch_macs_per_image"]
            a = statistics.median(x["images_per_s"] for x in ours) * flop / 1e9
            b = statistics.median(x["images_per_s"] for x in ref) * flop / 1e9
            print(f"| {size} | {LABELS[w]} | {a:.1f} | {b:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
