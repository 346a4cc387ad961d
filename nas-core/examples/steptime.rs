//! Rough timing of one supernet training step (development aid).
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Int, Tensor};
use nas_core::network::{NetworkMask, Plan};
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::supernet::Supernet;
use std::time::Instant;
type Ad = Autodiff<Flex>;
fn main() {
    let f: usize = std::env::args().nth(1).map_or(8, |s| s.parse().unwrap());
    let n: usize = std::env::args().nth(2).map_or(32, |s| s.parse().unwrap());
    let device = Default::default();
    let space = SearchSpace {
        filters: f,
        ..SearchSpace::default()
    };
    let net = Supernet::<Ad>::new(&space, &LayerConfig::new(), &device).unwrap();
    let plan = Plan {
        ghosts: vec![NetworkMask::all_on(&space)],
    };
    let x = Tensor::<Ad, 4>::random([n, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<Ad, 1, Int>::zeros([n], &device);
    for i in 0..3 {
        let t = Instant::now();
        let logits = net.forward(x.clone(), &plan);
        let _: f32 = logits.clone().sum().into_scalar();
        let tf = t.elapsed().as_secs_f64();
        let loss = burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits, y.clone());
        let _g = loss.backward();
        println!(
            "iter {i}: forward {tf:.3}s, forward+backward {:.3}s",
            t.elapsed().as_secs_f64()
        );
    }
}
