"""PyTorch reference of the project's networks, for the side-by-side speed comparison.

The same supernet and stand-alone models as `nas_core` (cells of choice blocks over the
7-operation menu, ReLU-Conv-BN units, separable convolutions as depthwise + pointwise,
factorized reductions, batch-statistics normalisation, path dropout over ghost batches,
L2 over the active paths only, SGD with Nesterov momentum), measured on the same four
workloads as `cargo run --release -p nas-core --example throughput`. Prints one JSON
object per line.

    python bench/reference.py [bench|default|all] [SECONDS] [THREADS] [cpu|cuda]
    python bench/reference.py memory F SIDE BATCH STEPS THREADS

Trainable parameter counts are printed so the two implementations can be checked to build
the same networks.
"""

import json
import math
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ["id", "sep3", "sep5", "sep7", "c17", "max3", "avg3"]
ARCH = (
    "N=0,1:sep3,sep5/1,2:sep7,id/0,3:c17,max3/2,4:sep3,avg3;"
    "R=0,1:sep5,c17/1,2:sep3,max3/0,3:sep7,id/3,4:sep5,avg3"
)
SIZES = {
    "bench": dict(side=28, filters=16, train_batch=32),
    "default": dict(side=14, filters=8, train_batch=64),
}
STACKS, CELLS_PER_STACK, BLOCKS, CLASSES, EVAL_BATCH = 3, 1, 4, 10, 256


class Norm(nn.Module):
    """Batch normalisation; `update` chooses whether running averages are updated."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x, update):
        if update:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                self.bias, True, 0.1, 1e-5)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, 1e-5)


def conv(c_in, c_out, k, stride=1, groups=1):
    kh, kw = (k, k) if isinstance(k, int) else k
    return nn.Conv2d(c_in, c_out, (kh, kw), stride, (kh // 2, kw // 2), groups=groups,
                     bias=False)


class ReluConvNorm(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv, self.norm = conv(c_in, c_out, 1), Norm(c_out)

    def forward(self, x, update):
        return self.norm(self.conv(F.relu(x)), update)


class SepConvPair(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.dw1, self.pw1, self.n1 = conv(c, c, k, groups=c), conv(c, c, 1), Norm(c)
        self.dw2, self.pw2, self.n2 = conv(c, c, k, groups=c), conv(c, c, 1), Norm(c)

    def forward(self, x, update):
        x = self.n1(self.pw1(self.dw1(F.relu(x))), update)
        return self.n2(self.pw2(self.dw2(F.relu(x))), update)


class Conv1x7x1(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b, self.norm = conv(c, c, (1, 7)), conv(c, c, (7, 1)), Norm(c)

    def forward(self, x, update):
        return self.norm(self.b(self.a(F.relu(x))), update)


class Pool(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, x, update):
        if self.kind == "max3":
            return F.max_pool2d(x, 3, 1, 1)
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class Identity(nn.Module):
    def forward(self, x, update):
        return x


def make_op(kind, c):
    if kind == "id":
        return Identity()
    if kind.startswith("sep"):
        return SepConvPair(c, int(kind[3]))
    if kind == "c17":
        return Conv1x7x1(c)
    return Pool(kind)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        a = c_out // 2
        self.a, self.b = conv(c_in, a, 1, 2), conv(c_in, c_out - a, 1, 2)
        self.norm = Norm(c_out)

    def forward(self, x, update):
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.norm(torch.cat([self.a(x), self.b(shifted)], 1), update)


class Cell(nn.Module):
    def __init__(self, inputs, c, keep):
        super().__init__()
        self.pre = nn.ModuleList(
            FactorizedReduce(ch, c) if reduce else ReluConvNorm(ch, c) for ch, reduce in inputs)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, c) for op in OPS if keep(b, op)})
            for b in range(BLOCKS))
        self.out = ReluConvNorm(c * BLOCKS, c)

    def forward(self, s0, s1, mask, update):
        states = [self.pre[0](s0, update), self.pre[1](s1, update)]
        for block, (inputs, ops) in zip(self.blocks, mask):
            ins = [states[i] for i in inputs]
            out = None
            if ins:
                x = ins[0]
                for t in ins[1:]:
                    x = x + t
                for op in ops:
                    y = block[op](x, update)
                    out = y if out is None else out + y
            states.append(out if out is not None else torch.zeros_like(states[1]))
        return self.out(torch.cat(states[2:], 1), update)


def cell_sites(filters):
    """(kind, channels) of every cell, as `SearchSpace::cell_sites`."""
    sites = []
    for stack in range(STACKS):
        c = filters << stack
        if stack > 0:
            sites.append(("R", c))
        sites += [("N", c)] * CELLS_PER_STACK
    return sites


class Network(nn.Module):
    """The supernet (`keep` always true) or a stand-alone model (`keep` = the architecture)."""

    def __init__(self, filters, keep):
        super().__init__()
        self.stem, self.stem_norm = conv(1, filters, 3), Norm(filters)
        self.sites = cell_sites(filters)
        cells = []
        inputs = [(filters, 0), (filters, 0)]  # (channels, level)
        for ci, (kind, c) in enumerate(self.sites):
            level = inputs[1][1] + (kind == "R")
            cells.append(Cell([(ch, lv != level) for ch, lv in inputs], c,
                              lambda b, op, ci=ci: keep(ci, b, op)))
            inputs = [inputs[1], (c, level)]
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(inputs[1][0], CLASSES)

    def forward(self, x, mask, update=False):
        s = self.stem_norm(self.stem(x), update)
        s0 = s1 = s
        for cell, cm in zip(self.cells, mask):
            s0, s1 = s1, cell(s0, s1, cm, update)
        return self.classifier(s1.mean((2, 3)))

    def squared_weights(self, masks):
        """Sum of squares of the rank >= 2 weights of the always-on parts and of every
        operation some ghost batch computes."""
        total = self.stem.weight.square().sum() + self.classifier.weight.square().sum()
        for ci, cell in enumerate(self.cells):
            for part in [cell.pre, cell.out]:
                for p in part.parameters():
                    if p.dim() >= 2:
                        total = total + p.square().sum()
            for b, block in enumerate(cell.blocks):
                for op, module in block.items():
                    if any(m[ci][b][0] and op in m[ci][b][1] for m in masks):
                        for p in module.parameters():
                            if p.dim() >= 2:
                                total = total + p.square().sum()
        return total


def parse_arch(text):
    """{'N': [(inputs, ops)] * BLOCKS, 'R': ...} from the text form."""
    out = {}
    for part in text.split(";"):
        kind, blocks = part.split("=")
        out[kind] = [(
            [int(i) for i in b.split(":")[0].split(",")],
            b.split(":")[1].split(","),
        ) for b in blocks.split("/")]
    return out


def arch_mask(arch, sites):
    return [arch[kind] for kind, _ in sites]


def sample_mask(sites, rate, rng):
    """Every candidate input and operation dropped with probability rate^(1/k); a node left
    with none keeps one at random."""
    def node(k):
        p = rate ** (1.0 / k) if rate > 0 else 0.0
        keep = [rng.random() >= p for _ in range(k)]
        if not any(keep):
            keep[rng.randrange(k)] = True
        return keep
    mask = []
    for _ in sites:
        blocks = []
        for b in range(BLOCKS):
            inputs = [i for i, on in enumerate(node(b + 2)) if on]
            ops = [op for op, on in zip(OPS, node(len(OPS))) if on]
            blocks.append((inputs, ops))
        mask.append(blocks)
    return mask


def sync():
    """Waits for the GPU's queued work (nothing to wait for on the CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def rate_of(images, seconds, step):
    step()
    step()
    sync()
    start, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - start < seconds:
        step()
        n += 1
    sync()
    return n * images / (time.perf_counter() - start)


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure(name, size, seconds, threads, device="cpu"):
    torch.manual_seed(0)
    rng = random.Random(0)
    side, filters, tb = size["side"], size["filters"], size["train_batch"]
    arch = parse_arch(ARCH)
    x = torch.randn(tb, 1, side, side).to(device)
    y = torch.randint(0, CLASSES, (tb,)).to(device)

    def report(workload, params, r):
        print(json.dumps({"impl": "pytorch", "size": name, "workload": workload,
                          "params": params, "images_per_s": round(r, 1),
                          "threads": threads, "device": device}), flush=True)

    supernet = Network(filters, lambda c, b, op: True).to(device)
    sites = supernet.sites
    opt = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    for workload, rate, ghosts in [("supernet-all", 0.0, 1), ("supernet-drop", 0.125, 2)]:
        def step():
            masks = [sample_mask(sites, rate, rng) for _ in range(ghosts)]
            chunk = math.ceil(tb / ghosts)
            logits = torch.cat([supernet(x[g * chunk:(g + 1) * chunk], m)
                                for g, m in enumerate(masks)])
            loss = F.cross_entropy(logits, y) + supernet.squared_weights(masks) * (1e-4 / 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        report(workload, trainable(supernet), rate_of(tb, seconds, step))

    xe = torch.randn(EVAL_BATCH, 1, side, side).to(device)
    mask = arch_mask(arch, sites)

    def score():
        with torch.inference_mode():
            supernet(xe, mask).cpu().numpy()
    report("oneshot", trainable(supernet), rate_of(EVAL_BATCH, seconds, score))

    alone = Network(filters, lambda c, b, op: any(
        op in ops for _, ops in [arch[sites[c][0]][b]])).to(device)
    opt = torch.optim.SGD(alone.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    def alone_step():
        loss = F.cross_entropy(alone(x, mask, update=True), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    report("standalone", trainable(alone), rate_of(tb, seconds, alone_step))


def status_mib(field):
    """A field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return 0.0


def memory(filters, side, batch, steps, threads):
    """Peak memory of supernet training with every path on (as examples/memory.rs)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    supernet = Network(filters, lambda c, b, op: True)
    mask = sample_mask(supernet.sites, 0.0, random.Random(0))
    opt = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 1, side, side)
    y = torch.randint(0, CLASSES, (batch,))
    built = status_mib("VmRSS")
    for _ in range(steps):
        loss = F.cross_entropy(supernet(x, mask), y) + supernet.squared_weights([mask]) * (1e-4 / 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    print(json.dumps({"impl": "pytorch", "filters": filters, "side": side, "batch": batch,
                      "steps": steps, "built_mib": round(built, 1),
                      "peak_mib": round(status_mib("VmHWM"), 1)}), flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "memory":
        filters, side, batch, steps, threads = (int(v) for v in sys.argv[2:7])
        memory(filters, side, batch, steps, threads)
        return
    which = sys.argv[1] if len(sys.argv) > 1 else "bench"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads()
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    if device not in ("cpu", "cuda"):
        sys.exit(f"unknown device '{device}': use cpu or cuda")
    torch.set_num_threads(threads)
    names = list(SIZES) if which == "all" else [which]
    for name in names:
        if name not in SIZES:
            sys.exit(f"unknown size '{name}': use bench, default or all")
        measure(name, SIZES[name], seconds, threads, device)


if __name__ == "__main__":
    main()
