#!/usr/bin/env bash
# Fetch the full Fashion-MNIST (60,000 train / 10,000 test images) from Debian's package
# `dataset-fashion-mnist` (MIT licence) into data/fashion-mnist/ (ignored by git).
# Needs apt-get (Debian or Ubuntu) and the package index (run `apt-get update` once).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=data/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download dataset-fashion-mnist)
dpkg-deb -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/root"
mkdir -p "$dest"
cp "$tmp"/root/usr/share/datasets/fashion-mnist/*-ubyte.gz "$dest"/
ls -l "$dest"
echo "Fashion-MNIST is in $dest (load it with DataSource::Idx { dir: \"$dest\" })"
