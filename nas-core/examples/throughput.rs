//! Images per second of the four workloads the speed comparison measures, printed as one
//! JSON object per line (`bench/compare.py` runs this and its PyTorch reference side by
//! side):
//!
//! - `supernet-all`: a supernet train step with every path on (one ghost batch);
//! - `supernet-drop`: a supernet train step with path dropout at r = 0.125 over 2 ghost
//!   batches, with the L2 penalty over the active paths;
//! - `oneshot`: one-shot scoring of one architecture (batch 256, no autodiff);
//! - `standalone`: a stand-alone train step of the same architecture.
//!
//! ```text
//! cargo run --release -p nas-core --example throughput -- [flex|ndarray|tch|tch-cuda|cuda] [bench|default] [SECONDS]
//! ```
//!
//! `THROUGHPUT_ONLY=standalone` (a comma-separated list of the names above) measures only
//! those workloads, e.g. under a profiler.
//!
//! `bench` is 28x28x1 images with F = 16; `default` is what `nas run` trains (14x14x1, F = 8).
//! `tch` and `tch-cuda` need `--features tch`, `cuda` needs `--features cuda`; on a GPU the
//! clock stops only when the queued work has run.
//!
//! Both have 3 stacks of 1 cell of 4 blocks and the 7-operation menu. Training batches
//! are 32 images at `bench` size and 64 at `default` size.

use std::io::Write;
use std::time::{Duration, Instant};

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};
use nas_core::backend::NasAutodiffBackend;
use nas_core::network::Plan;
use nas_core::ops::{LayerConfig, NormMode};
use nas_core::space::SearchSpace;
use nas_core::standalone::StandaloneModel;
use nas_core::stats::ModelStats;
use nas_core::supernet::{DropPathConfig, Supernet};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The architecture every stand-alone and one-shot workload uses (also in the reference).
const ARCH: &str = "N=0,1:sep3,sep5/1,2:sep7,id/0,3:c17,max3/2,4:sep3,avg3;\
                    R=0,1:sep5,c17/1,2:sep3,max3/0,3:sep7,id/3,4:sep5,avg3";

struct Size {
    name: &'static str,
    side: usize,
    filters: usize,
    train_batch: usize,
}

const SIZES: [Size; 2] = [
    Size {
        name: "bench",
        side: 28,
        filters: 16,
        train_batch: 32,
    },
    Size {
        name: "default",
        side: 14,
        filters: 8,
        train_batch: 64,
    },
];

const EVAL_BATCH: usize = 256;

fn sgd() -> SgdConfig {
    SgdConfig::new().with_momentum(Some(
        MomentumConfig::new()
            .with_momentum(0.9)
            .with_dampening(0.0)
            .with_nesterov(true),
    ))
}

fn batch<B: Backend>(
    n: usize,
    side: usize,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let x = Tensor::random([n, 1, side, side], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<B, 1>::random([n], Distribution::Uniform(0.0, 9.99), device).int();
    (x, y)
}

/// Runs `step` (one call = `images` images) for about `seconds` after two warm-up calls,
/// and returns images per second. `sync` waits for the queued work of an asynchronous
/// backend (a GPU), so that the clock stops when the last step has run, not when it was
/// queued.
fn rate(images: usize, seconds: f64, mut step: impl FnMut(), sync: impl Fn()) -> f64 {
    step();
    step();
    sync();
    let start = Instant::now();
    let mut n = 0;
    while n < 3 || start.elapsed() < Duration::from_secs_f64(seconds) {
        step();
        n += 1;
    }
    sync();
    (n * images) as f64 / start.elapsed().as_secs_f64()
}

fn measure<B: NasAutodiffBackend>(backend: &str, size: &Size, seconds: f64, device: B::Device) {
    B::seed(&device, 0); // the random inputs
    let sync = || B::sync(&device).expect("the backend's queued work");
    let space = SearchSpace {
        filters: size.filters,
        input_shape: [1, size.side, size.side],
        ..SearchSpace::default()
    };
    let arch = space.parse(ARCH).expect("the benchmark architecture");
    let layers = LayerConfig::new();
    let ce = CrossEntropyLossConfig::new().init::<B>(&device);
    let mut rng = StdRng::seed_from_u64(0);
    let (x, y) = batch::<B>(size.train_batch, size.side, &device);
    // Multiply-adds of one forward pass of the architecture on one image (what one-shot
    // scoring and the stand-alone model compute), for FLOP/s figures.
    let macs = ModelStats::of(&space, &arch, &layers).unwrap().macs;
    let report = |workload: &str, params: usize, rate: f64| {
        // A closed pipe (`| head`) ends the output quietly.
        let _ = writeln!(
            std::io::stdout(),
            "{{\"impl\": \"burn-{backend}\", \"size\": \"{}\", \"workload\": \"{workload}\", \"params\": {params}, \"images_per_s\": {rate:.1}, \"threads\": {}, \"arch_macs_per_image\": {macs}}}",
            size.name,
            rayon_threads()
        );
    };

    let only = std::env::var("THROUGHPUT_ONLY").ok();
    let wanted = |w: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == w));
    let drop = DropPathConfig::default();
    let supernet = Supernet::<B>::new(&space, &layers, 0, &device).unwrap();
    let params = trainable(&supernet);
    let mut optim = sgd().init::<B, Supernet<B>>();
    let mut model = Some(supernet);
    for (workload, r, ghosts) in [("supernet-all", 0.0, 1), ("supernet-drop", 0.125, 2)] {
        if !wanted(workload) {
            continue;
        }
        let r = rate(
            size.train_batch,
            seconds,
            || {
                let m = model.take().unwrap();
                let plan = drop.sample_plan(&space, r, ghosts, &mut rng);
                let loss = ce.forward(m.forward(x.clone(), &plan), y.clone());
                let mut grads = GradientsParams::from_grads(loss.backward(), &m);
                // The active-path L2 penalty as training applies it: as its gradient.
                m.net.apply_l2_gradient(&plan, 1e-4, &mut grads);
                model = Some(optim.step(0.05, m, grads));
            },
            sync,
        );
        report(workload, params, r);
    }

    let scorer = model.take().unwrap().valid();
    if wanted("oneshot") {
        let (xe, _) = batch::<B::InnerBackend>(EVAL_BATCH, size.side, &device);
        let plan = Plan::architecture(&space, &arch);
        let r = rate(
            EVAL_BATCH,
            seconds,
            || {
                let logits = scorer.forward(xe.clone(), &plan);
                std::hint::black_box(logits.into_data());
            },
            sync,
        );
        report("oneshot", params, r);
    }
    if !wanted("standalone") {
        return;
    }

    let alone = StandaloneModel::<B>::new(&space, &arch, &layers, 0, &device).unwrap();
    let params = trainable(&alone);
    let mut optim = sgd().init::<B, StandaloneModel<B>>();
    let mut alone = Some(alone);
    let r = rate(
        size.train_batch,
        seconds,
        || {
            let m = alone.take().unwrap();
            let loss = ce.forward(
                m.forward(x.clone(), NormMode::BatchUpdateRunning),
                y.clone(),
            );
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            alone = Some(optim.step(0.05, m, grads));
        },
        sync,
    );
    report("standalone", params, r);
}

/// Trainable parameters (burn's `num_params` also counts normalisation running statistics).
fn trainable<B: Backend, M: Module<B>>(m: &M) -> usize {
    struct Count(usize);
    impl<B: Backend> ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if param.val().is_require_grad() {
                self.0 += param.shape().num_elements();
            }
        }
    }
    let mut c = Count(0);
    m.visit(&mut c);
    c.0
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = args.first().map_or("flex", String::as_str);
    let which = args.get(1).map_or("bench", String::as_str);
    let seconds: f64 = match args.get(2).map(|s| s.parse()) {
        None => 3.0,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("SECONDS must be a number, not '{}'", args[2]);
            std::process::exit(2);
        }
    };
    let sizes: Vec<&Size> = SIZES
        .iter()
        .filter(|s| which == "all" || s.name == which)
        .collect();
    if sizes.is_empty() {
        eprintln!("unknown size '{which}': use bench, default or all");
        std::process::exit(2);
    }
    for size in sizes {
        match backend {
            "flex" => measure::<Autodiff<Flex>>(backend, size, seconds, Default::default()),
            "ndarray" => measure::<Autodiff<NdArray>>(backend, size, seconds, Default::default()),
            #[cfg(feature = "tch")]
            "tch" | "tch-cuda" => {
                use burn::backend::libtorch::LibTorchDevice;
                nas_core::backend::libtorch::set_threads(rayon_threads());
                let device = if backend == "tch" {
                    LibTorchDevice::Cpu
                } else {
                    LibTorchDevice::Cuda(0)
                };
                measure::<Autodiff<burn::backend::LibTorch<f32>>>(backend, size, seconds, device)
            }
            #[cfg(feature = "cuda")]
            "cuda" => measure::<Autodiff<burn::backend::Cuda>>(
                backend,
                size,
                seconds,
                burn::backend::cuda::CudaDevice::new(0),
            ),
            other => {
                eprintln!(
                    "unknown backend '{other}': use flex, ndarray, (with --features tch) tch or \
                     tch-cuda, or (with --features cuda) cuda"
                );
                std::process::exit(2);
            }
        }
    }
}
