#!/usr/bin/env python3
"""Cut the embedded Fashion-MNIST subset shipped in nas-core/data/fashion-mnist-subset/.

Source: Debian's package `dataset-fashion-mnist` (MIT licence, Zalando SE). Get it with

    apt-get download dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb /tmp/fm

then run

    python3 scripts/make_embedded_fmnist.py /tmp/fm/usr/share/datasets/fashion-mnist

The cut is class-balanced and reproducible (fixed seed, gzip without timestamps):
1,000 training images per class from the training file and 200 test images per class
from the test file, in a shuffled order.
"""
import gzip
import random
import struct
import sys
from pathlib import Path

SEED = 20180710  # fixed: the subset must be identical on every machine
TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
OUT = Path(__file__).resolve().parent.parent / "nas-core" / "data" / "fashion-mnist-subset"


def read_idx(path):
    data = gzip.open(path, "rb").read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def write_idx(path, magic, dims, payload):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(header + payload)


def cut(src, prefix, per_class, out_name, rng):
    (n, h, w), pixels = read_idx(src / f"{prefix}-images-idx3-ubyte.gz")
    (n_labels,), labels = read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")
    assert n == n_labels, "image and label counts differ"
    by_class = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    chosen = []
    for label in sorted(by_class):
        chosen += rng.sample(by_class[label], per_class)
    rng.shuffle(chosen)
    size = h * w
    write_idx(OUT / f"{out_name}-images-idx3-ubyte.gz", 0x00000803, (len(chosen), h, w),
              b"".join(pixels[i * size:(i + 1) * size] for i in chosen))
    write_idx(OUT / f"{out_name}-labels-idx1-ubyte.gz", 0x00000801, (len(chosen),),
              bytes(labels[i] for i in chosen))
    print(f"{out_name}: {len(chosen)} images from {prefix} ({n} available)")


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    cut(src, "train", TRAIN_PER_CLASS, "train", rng)
    cut(src, "t10k", TEST_PER_CLASS, "test", rng)


if __name__ == "__main__":
    main()
