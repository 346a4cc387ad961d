//! Same seed, same network on every backend.
//!
//! On every compiled backend (Flex and NdArray by default; wgpu, CUDA and LibTorch where
//! built, and LibTorch's GPU where libtorch sees one), from one seed: the supernet's initial weights, its logits with every
//! path on, under one sampled architecture and with path-dropout masks over two ghost
//! batches, and its weights after one SGD step. Initial weights must be equal bit for bit
//! (they are drawn on the host); the rest within tolerances that cover float drift between
//! kernels that sum in different orders. The largest differences are printed
//! (`cargo test -p nas-backends --test cross_backend -- --nocapture`).

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::{Int, Tensor, TensorData};
use nas_backends::{BackendKind, BackendSpec, BackendTask, available, run};
use nas_core::backend::{NasAutodiffBackend, NasBackend};
use nas_core::network::Plan;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::supernet::{DropPathConfig, Supernet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Largest |a - b| between logits, relative to the largest logit (at least 1).
const LOGITS_TOLERANCE: f32 = 1e-4;
/// Largest |a - b| between weights after one SGD step (absolute; weights are O(0.1..1)).
const STEP_TOLERANCE: f32 = 1e-5;

/// Every float parameter's values, in visit order, and their shapes.
struct Weights(Vec<Vec<f32>>, Vec<Vec<usize>>);

impl<B: burn::tensor::backend::Backend> ModuleVisitor<B> for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.1.push(param.val().dims().to_vec());
        self.0.push(param.val().into_data().iter::<f32>().collect());
    }
}

fn weights<B: NasBackend, M: Module<B>>(m: &M) -> Vec<Vec<f32>> {
    let mut w = Weights(Vec::new(), Vec::new());
    m.visit(&mut w);
    w.0
}

fn shapes<B: NasBackend, M: Module<B>>(m: &M) -> Vec<Vec<usize>> {
    let mut w = Weights(Vec::new(), Vec::new());
    m.visit(&mut w);
    w.1
}

/// The parameters that differ most after the step: index, shape and largest difference.
fn worst(a: &[Vec<f32>], b: &[Vec<f32>], shapes: &[Vec<usize>]) -> String {
    let mut d: Vec<(usize, f32)> = a
        .iter()
        .zip(b)
        .map(|(p, q)| {
            p.iter()
                .zip(q)
                .map(|(u, v)| (u - v).abs())
                .fold(0f32, f32::max)
        })
        .enumerate()
        .collect();
    d.sort_by(|x, y| y.1.total_cmp(&x.1));
    d.iter()
        .take(8)
        .map(|(i, v)| format!("parameter {i} {:?}: {v:.2e}", shapes[*i]))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What one backend computes.
struct Outcome {
    initial: Vec<Vec<f32>>,
    shapes: Vec<Vec<usize>>,
    logits: Vec<(&'static str, Vec<f32>)>,
    stepped: Vec<Vec<f32>>,
}

struct Probe;

impl BackendTask for Probe {
    type Output = Outcome;

    fn run<B: NasAutodiffBackend>(self, device: B::Device) -> Outcome {
        let space = SearchSpace {
            stacks: 2,
            filters: 8,
            input_shape: [1, 14, 14],
            ..SearchSpace::default()
        };
        let net = Supernet::<B>::new(&space, &LayerConfig::new(), 7, &device).unwrap();
        let initial = weights(&net);
        let shapes = shapes(&net);

        // Inputs, labels, architectures and masks from host generators.
        let mut rng = StdRng::seed_from_u64(3);
        let shape = [16, 1, 14, 14];
        let x: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        let y: Vec<i64> = (0..shape[0]).map(|i| (i % 10) as i64).collect();
        let x = Tensor::<B, 4>::from_data(TensorData::new(x, shape), &device);
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(y, [shape[0]]), &device);
        let drop = DropPathConfig::default();
        let plans = [
            ("every path on", drop.sample_plan(&space, 0.0, 1, &mut rng)),
            (
                "one sampled architecture",
                Plan::architecture(&space, &space.sample(&mut rng)),
            ),
            (
                "path dropout over 2 ghost batches",
                drop.sample_plan(&space, 0.25, 2, &mut rng),
            ),
        ];
        let logits = plans
            .iter()
            .map(|(what, plan)| {
                let out = net.forward(x.clone(), plan);
                (*what, out.into_data().iter::<f32>().collect())
            })
            .collect();

        // One SGD step (momentum, weight decay) on the dropout plan.
        let loss = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(net.forward(x, &plans[2].1), y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let mut optim = SgdConfig::new()
            .with_momentum(Some(burn::optim::momentum::MomentumConfig::new()))
            .init::<B, Supernet<B>>();
        let net = optim.step(0.1, net, grads);
        Outcome {
            initial,
            shapes,
            logits,
            stepped: weights(&net),
        }
    }
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "parameter counts differ");
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| {
            assert_eq!(p.len(), q.len(), "a parameter's size differs");
            p.iter().zip(q).map(|(u, v)| (u - v).abs())
        })
        .fold(0f32, f32::max)
}

/// The backends of this build that can run here, by name, with what they computed
/// (LibTorch on the CPU, and also on the first GPU when libtorch sees one).
fn outcomes() -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    let mut specs = Vec::new();
    for kind in available() {
        specs.push(match kind {
            BackendKind::Wgpu => "wgpu:default",
            BackendKind::Cuda => "cuda:0",
            other => other.name(),
        });
        #[cfg(feature = "tch")]
        if kind == BackendKind::Tch && nas_core::backend::libtorch::cuda_devices() > 0 {
            specs.push("tch:cuda:0");
        }
    }
    for spec in specs {
        let spec: BackendSpec = spec.parse().unwrap();
        // A GPU backend without a device panics or errors inside burn: skipped, saying so.
        match std::panic::catch_unwind(|| run(spec, Probe)) {
            Ok(Ok(o)) => out.push((spec.to_string(), o)),
            Ok(Err(e)) => eprintln!("SKIPPED {spec}: {e}"),
            Err(_) => eprintln!("SKIPPED {spec}: it panicked (no device?)"),
        }
    }
    out
}

#[test]
fn the_same_seed_builds_the_same_supernet_on_every_backend() {
    let all = outcomes();
    assert!(
        all.iter().any(|(n, _)| n.starts_with("flex"))
            && all.iter().any(|(n, _)| n.starts_with("ndarray")),
        "the default build runs Flex and NdArray: {:?}",
        all.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let (base_name, base) = &all[0];
    for (name, o) in &all[1..] {
        assert!(
            o.initial == base.initial,
            "{name} and {base_name} drew different initial weights from one seed"
        );
        for ((what, a), (_, b)) in o.logits.iter().zip(&base.logits) {
            let d = max_diff(std::slice::from_ref(a), std::slice::from_ref(b));
            let scale = b.iter().map(|v| v.abs()).fold(1f32, f32::max);
            eprintln!(
                "{name} vs {base_name}, {what}: max |logit difference| {d:.2e} (largest logit {scale:.2})"
            );
            assert!(
                d <= LOGITS_TOLERANCE * scale,
                "{name} vs {base_name}, {what}: logits differ by {d}"
            );
        }
        let d = max_diff(&o.stepped, &base.stepped);
        eprintln!("{name} vs {base_name}, after one SGD step: max |weight difference| {d:.2e}");
        assert!(
            d <= STEP_TOLERANCE,
            "{name} vs {base_name}: weights after a step differ by {d}; most in {}",
            worst(&o.stepped, &base.stepped, &base.shapes)
        );
    }
}

#[test]
fn different_seeds_build_different_supernets() {
    struct Two;
    impl BackendTask for Two {
        type Output = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<Vec<f32>>);
        fn run<B: NasAutodiffBackend>(self, device: B::Device) -> Self::Output {
            let space = SearchSpace {
                stacks: 2,
                filters: 4,
                input_shape: [1, 8, 8],
                ..SearchSpace::default()
            };
            let build = |seed| {
                weights(&Supernet::<B>::new(&space, &LayerConfig::new(), seed, &device).unwrap())
            };
            (build(1), build(1), build(2))
        }
    }
    let (a, b, c) = run("flex".parse().unwrap(), Two).unwrap();
    assert_eq!(a, b, "one seed, one network");
    assert_ne!(a, c, "another seed, another network");
    // Convolution weights lie in U(-1/sqrt(fan_in), 1/sqrt(fan_in)); normalisation scales
    // start at 1: none of the drawn values is outside [-1, 1].
    assert!(a.iter().flatten().all(|v| v.abs() <= 1.0));
}
