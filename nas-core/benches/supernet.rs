//! Supernet train step, one-shot evaluation throughput and stand-alone train step on
//! the CPU (Flex backend), at a small default configuration: 28x28x1 input, F = 16,
//! 3 stacks of 1 cell, 4 blocks, the 7-op menu.
//!
//! ```text
//! cargo bench -p nas-core --bench supernet
//! ```
// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nas_core::network::Plan;
use nas_core::ops::{LayerConfig, NormMode};
use nas_core::space::SearchSpace;
use nas_core::standalone::StandaloneModel;
use nas_core::supernet::{DropPathConfig, Supernet};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Ad = Autodiff<Flex>;

const TRAIN_BATCH: usize = 32;
const EVAL_BATCH: usize = 256;

fn space() -> SearchSpace {
    SearchSpace {
        filters: 16,
        ..SearchSpace::default()
    }
}

fn batch<B: Backend>(n: usize) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let device = Default::default();
    let x = Tensor::random([n, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<B, 1>::random([n], Distribution::Uniform(0.0, 9.99), &device).int();
    (x, y)
}

fn sgd() -> SgdConfig {
    SgdConfig::new().with_momentum(Some(
        MomentumConfig::new()
            .with_momentum(0.9)
            .with_dampening(0.0)
            .with_nesterov(true),
    ))
}

fn benches(c: &mut Criterion) {
    let device = Default::default();
    Ad::seed(&device, 0); // the random inputs
    let space = space();
    let layers = LayerConfig::new();
    let ce = CrossEntropyLossConfig::new().init::<Ad>(&device);
    let mut rng = StdRng::seed_from_u64(0);
    let arch = space.sample(&mut rng);

    let mut group = c.benchmark_group("cpu-flex");
    group.sample_size(10);

    // One supernet step at the mid-training dropout rate (r = 0.125 of r_max = 0.25),
    // 2 ghost batches of 16, with the active-path L2 penalty.
    let drop = DropPathConfig::default();
    let (x, y) = batch::<Ad>(TRAIN_BATCH);
    let mut model = Some(Supernet::<Ad>::new(&space, &layers, 0, &device).unwrap());
    let mut optim = sgd().init::<Ad, Supernet<Ad>>();
    group.throughput(Throughput::Elements(TRAIN_BATCH as u64));
    group.bench_function("supernet train step (batch 32, 2 ghosts, r=0.125)", |b| {
        b.iter(|| {
            let m = model.take().unwrap();
            let plan = drop.sample_plan(&space, 0.125, 2, &mut rng);
            let loss = ce.forward(m.forward(x.clone(), &plan), y.clone());
            let mut grads = GradientsParams::from_grads(loss.backward(), &m);
            // The active-path L2 penalty as training applies it: as its gradient.
            m.net.apply_l2_gradient(&plan, 1e-4, &mut grads);
            model = Some(optim.step(0.05, m, grads));
        })
    });

    // One-shot scoring: one architecture, one fixed batch, batch statistics, no autodiff.
    let supernet = model.take().unwrap().valid();
    let (xe, _) = batch::<Flex>(EVAL_BATCH);
    let plan = Plan::architecture(&space, &arch);
    group.throughput(Throughput::Elements(EVAL_BATCH as u64));
    group.bench_function("one-shot evaluation (batch 256)", |b| {
        b.iter(|| {
            let logits = supernet.forward(xe.clone(), &plan);
            black_box(logits.into_data());
        })
    });

    // One stand-alone step of the same architecture.
    let mut alone = Some(StandaloneModel::<Ad>::new(&space, &arch, &layers, 0, &device).unwrap());
    let mut optim = sgd().init::<Ad, StandaloneModel<Ad>>();
    group.throughput(Throughput::Elements(TRAIN_BATCH as u64));
    group.bench_function("stand-alone train step (batch 32)", |b| {
        b.iter(|| {
            let m = alone.take().unwrap();
            let loss = ce.forward(
                m.forward(x.clone(), NormMode::BatchUpdateRunning),
                y.clone(),
            );
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            alone = Some(optim.step(0.05, m, grads));
        })
    });
    group.finish();
    println!("architecture: {arch}");
}

criterion_group!(cpu, benches);
criterion_main!(cpu);
