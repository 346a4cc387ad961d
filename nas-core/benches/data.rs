//! Data loading costs, to compare with a training step (see the `supernet` bench):
//! building a batch tensor from memory, with and without augmentation, and loading the
//! embedded data set into normalised splits.
//!
//! ```text
//! cargo bench -p nas-core --bench data
//! ```

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use burn::backend::Flex;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nas_core::data::{Augment, DataConfig, ImageDataset, parse_cifar};
use rand::SeedableRng;
use rand::rngs::StdRng;

const BATCH: usize = 64;

fn benches(c: &mut Criterion) {
    let device = Default::default();
    let mut rng = StdRng::seed_from_u64(0);
    let splits = DataConfig::default().load().unwrap();
    let fmnist = splits.train;
    // CIFAR-shaped images: the 20-image fixture repeated to 640 images.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cifar10_test_first20.bin"
    ))
    .unwrap();
    let one = parse_cifar("fixture", &bytes, 1, 0, 10).unwrap();
    let cifar = ImageDataset::concat("x32", vec![one; 32]).unwrap();
    let idx: Vec<usize> = (0..BATCH).map(|i| (i * 7) % cifar.len()).collect();

    let mut group = c.benchmark_group("data");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("batch of 64, 28x28x1", |b| {
        b.iter(|| black_box(fmnist.batch::<Flex>(&idx, &device)))
    });
    group.bench_function("batch of 64, 32x32x3, crop+flip", |b| {
        b.iter(|| {
            black_box(cifar.batch_augmented::<Flex, _>(&idx, &Augment::CIFAR, &mut rng, &device))
        })
    });
    group.throughput(Throughput::Elements(12_000));
    group.sample_size(10);
    group.bench_function("load embedded Fashion-MNIST splits", |b| {
        b.iter(|| black_box(DataConfig::default().load().unwrap()))
    });
    group.finish();
}

criterion_group!(data, benches);
criterion_main!(data);
