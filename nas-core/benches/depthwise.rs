//! The depthwise convolution of the separable operations: ours (with its own backward pass)
//! against burn's stock grouped `conv2d`, forward and forward + backward, on Flex, at the
//! sizes a supernet step sees (batch 32, 16 channels, 28x28; k = 3, 5, 7).
//!
//! ```text
//! cargo bench -p nas-core --bench depthwise
//! ```
// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use burn::backend::{Autodiff, Flex};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use nas_core::backend::depthwise_conv2d;

type Ad = Autodiff<Flex>;

const SHAPE: [usize; 4] = [32, 16, 28, 28];

fn stock<B: burn::tensor::backend::Backend>(x: Tensor<B, 4>, w: Tensor<B, 4>) -> Tensor<B, 4> {
    let [c, _, k, _] = w.dims();
    conv2d(
        x,
        w,
        None,
        ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], c),
    )
}

fn benches(c: &mut Criterion) {
    let device = Default::default();
    let mut group = c.benchmark_group("depthwise");
    group.sample_size(10);
    for k in [3, 5, 7] {
        let x = Tensor::<Flex, 4>::random(SHAPE, Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<Flex, 4>::random([SHAPE[1], 1, k, k], Distribution::Default, &device);
        group.bench_function(format!("forward k={k} ours"), |b| {
            b.iter(|| black_box(depthwise_conv2d(x.clone(), w.clone()).into_data()))
        });
        group.bench_function(format!("forward k={k} conv2d"), |b| {
            b.iter(|| black_box(stock(x.clone(), w.clone()).into_data()))
        });
        let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
        let wa = Tensor::<Ad, 4>::from_inner(w.clone()).require_grad();
        for (name, ours) in [("ours", true), ("conv2d", false)] {
            group.bench_function(format!("forward+backward k={k} {name}"), |b| {
                b.iter(|| {
                    let y = if ours {
                        depthwise_conv2d(xa.clone(), wa.clone())
                    } else {
                        stock(xa.clone(), wa.clone())
                    };
                    let grads = y.sum().backward();
                    black_box((xa.grad(&grads), wa.grad(&grads)))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(depthwise, benches);
criterion_main!(depthwise);
