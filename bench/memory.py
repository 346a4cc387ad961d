"""Peak memory of supernet training (every path on) over a grid of filters and batch sizes,
ours (burn, Flex backend) and the PyTorch reference, each configuration in a fresh process.

    cargo build --release -p nas-core --example memory
    .venv-bench/bin/python bench/memory.py [--threads 2] [--steps 2] [--torch/--no-torch]

Prints a markdown table. "working" is the peak resident memory minus the resident memory
just after the model was built, i.e. what training adds (activations kept for the backward
pass, gradients, momentum buffers, allocator caches).
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, "target", "release", "examples", "memory")
GRID = [(f, 28, b) for f in (8, 16, 32) for b in (16, 32, 64)] + [(8, 14, 64)]


def run(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True)
    a = p.parse_args()
    if not os.path.exists(OURS):
        sys.exit(f"{OURS} is missing: cargo build --release -p nas-core --example memory")
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    print("| F | image | batch | ours: peak (MiB) | ours: working | PyTorch: peak | PyTorch: working |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f, side, batch in GRID:
        ours = run([OURS, str(f), str(side), str(batch), str(a.steps)], env)
        row = [str(f), f"{side}x{side}", str(batch), f"{ours['peak_mib']:.0f}",
               f"{ours['peak_mib'] - ours['built_mib']:.0f}"]
        if a.torch:
            ref = run([sys.executable, os.path.join(ROOT, "bench", "reference.py"), "memory",
                       str(f), str(side), str(batch), str(a.steps), str(a.threads)], env)
            row += [f"{ref['peak_mib']:.0f}", f"{ref['peak_mib'] - ref['built_mib']:.0f}"]
        else:
            row += ["", ""]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
