//! Peak memory of supernet training: builds a supernet of `F` filters for `SIDE`x`SIDE`x1
//! images, runs `STEPS` training steps with every path on (the most memory a step can
//! take) on batches of `BATCH`, and prints one JSON line with the resident memory after
//! building the model and the process's peak resident memory (Linux `/proc/self/status`).
//! `bench/memory.py` runs it (and the PyTorch reference) over a grid of sizes.
//!
//! ```text
//! cargo run --release -p nas-core --example memory -- F SIDE BATCH [STEPS]
//! ```

use burn::backend::{Autodiff, Flex};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use nas_core::network::Plan;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::supernet::Supernet;

type B = Autodiff<Flex>;

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`), or 0 where there is none.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn arg(args: &[String], i: usize, name: &str, default: Option<usize>) -> usize {
    match (args.get(i), default) {
        (Some(v), _) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name} must be a positive integer, not '{v}'");
            std::process::exit(2)
        }),
        (None, Some(d)) => d,
        (None, None) => {
            eprintln!("usage: memory F SIDE BATCH [STEPS]");
            std::process::exit(2)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters = arg(&args, 0, "F", None);
    let side = arg(&args, 1, "SIDE", None);
    let batch = arg(&args, 2, "BATCH", None);
    let steps = arg(&args, 3, "STEPS", Some(2));
    let device = Default::default();
    B::seed(&device, 0); // the random inputs
    let space = SearchSpace {
        filters,
        input_shape: [1, side, side],
        ..SearchSpace::default()
    };
    let mut model = Some(
        Supernet::<B>::new(&space, &LayerConfig::new(), 0, &device).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        }),
    );
    let x = Tensor::<B, 4>::random(
        [batch, 1, side, side],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let y = Tensor::<B, 1>::random([batch], Distribution::Uniform(0.0, 9.99), &device).int();
    let ce = CrossEntropyLossConfig::new().init::<B>(&device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(0.9)
                .with_dampening(0.0)
                .with_nesterov(true),
        ))
        .init::<B, Supernet<B>>();
    let plan = Plan::all_on(&space);
    let built_kb = status_kb("VmRSS");
    for _ in 0..steps {
        let m = model.take().expect("the model");
        let loss = ce.forward(m.forward(x.clone(), &plan), y.clone());
        let mut grads = GradientsParams::from_grads(loss.backward(), &m);
        // The active-path L2 penalty as training applies it: as its gradient.
        m.net.apply_l2_gradient(&plan, 1e-4, &mut grads);
        model = Some(optim.step(0.05, m, grads));
    }
    println!(
        "{{\"impl\": \"burn-flex\", \"filters\": {filters}, \"side\": {side}, \"batch\": {batch}, \"steps\": {steps}, \"built_mib\": {:.1}, \"peak_mib\": {:.1}}}",
        built_kb as f64 / 1024.0,
        status_kb("VmHWM") as f64 / 1024.0
    );
}
