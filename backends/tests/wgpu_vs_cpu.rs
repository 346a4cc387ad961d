//! The supernet forward on wgpu against the CPU backend, with the same weights and input.
//!
//! Runs where a Vulkan (or Metal, DirectX) adapter exists; on a machine without a GPU,
//! Debian's `mesa-vulkan-drivers` provides one on the CPU (lavapipe):
//!
//! ```text
//! apt-get install mesa-vulkan-drivers libvulkan1
//! cargo test -p nas-backends --features wgpu --test wgpu_vs_cpu
//! ```
//!
//! Without an adapter the test says so and passes, unless `NAS_REQUIRE_WGPU=1` is set,
//! which turns a missing adapter into a failure (for machines that must have one).
#![cfg(all(feature = "wgpu", feature = "flex"))]

use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Flex, Wgpu};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::{Tensor, TensorData};
use nas_backends::BackendSpec;
use nas_core::backend::NasBackend;
use nas_core::network::Plan;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::supernet::{DropPathConfig, Supernet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn logits<B: NasBackend>(net: &Supernet<B>, x: &[f32], shape: [usize; 4], plan: &Plan) -> Vec<f32> {
    let device = net.devices()[0].clone();
    let x = Tensor::<B, 4>::from_data(TensorData::new(x.to_vec(), shape), &device);
    net.forward(x, plan).into_data().iter::<f32>().collect()
}

/// Whether wgpu has an adapter for `device`; without one, a test says so on stderr and
/// passes, unless `NAS_REQUIRE_WGPU=1` (CI), which makes it fail.
fn adapter(device: &WgpuDevice) -> bool {
    let spec: BackendSpec = "wgpu:default".parse().unwrap();
    match nas_backends::probe::<Wgpu>(spec, device) {
        Ok(_) => true,
        Err(e) if std::env::var("NAS_REQUIRE_WGPU").is_ok_and(|v| v == "1") => {
            panic!("NAS_REQUIRE_WGPU=1 but {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers for a CPU Vulkan driver)");
            false
        }
    }
}

#[test]
fn wgpu_supernet_forward_matches_cpu() {
    let device = WgpuDevice::DefaultDevice;
    if !adapter(&device) {
        return;
    }
    let space = SearchSpace {
        stacks: 2,
        filters: 8,
        input_shape: [1, 14, 14],
        ..SearchSpace::default()
    };
    let layers = LayerConfig::new();
    // Both models load the same saved weights. (Recording a model whose parameters were
    // never read would not do: burn initialises parameters lazily, and a clone taken
    // before the first read draws its own initial values.)
    let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::new();
    let bytes = rec
        .record(
            Supernet::<Flex>::new(&space, &layers, 0, &Default::default())
                .unwrap()
                .into_record(),
            (),
        )
        .unwrap();
    let cpu = Supernet::<Flex>::new(&space, &layers, 0, &Default::default())
        .unwrap()
        .load_record(rec.load(bytes.clone(), &Default::default()).unwrap());
    let gpu = Supernet::<Wgpu>::new(&space, &layers, 0, &device)
        .unwrap()
        .load_record(rec.load(bytes, &device).unwrap());

    let mut rng = StdRng::seed_from_u64(7);
    let shape = [16, 1, 14, 14];
    let x: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let drop = DropPathConfig::default();
    let plans = [
        (
            "one architecture",
            Plan::architecture(&space, &space.sample(&mut rng)),
        ),
        ("all paths", drop.sample_plan(&space, 0.0, 1, &mut rng)),
        (
            "dropout, 2 ghost batches",
            drop.sample_plan(&space, 0.25, 2, &mut rng),
        ),
    ];
    for (what, plan) in plans {
        let a = logits(&cpu, &x, shape, &plan);
        let b = logits(&gpu, &x, shape, &plan);
        assert_eq!(a.len(), b.len());
        let max = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        let scale = a.iter().map(|v| v.abs()).fold(0f32, f32::max);
        eprintln!("{what}: max |wgpu - cpu| = {max:.2e} (largest logit {scale:.2})");
        assert!(
            max < 1e-3 * scale.max(1.0),
            "{what}: logits differ by {max}"
        );
    }
}

/// A device index with no adapter behind it is a clear error, not a panic.
#[test]
fn missing_wgpu_device_is_a_clear_error() {
    let spec: BackendSpec = "wgpu:7".parse().unwrap();
    let device = WgpuDevice::DiscreteGpu(7);
    let err = nas_backends::probe::<Wgpu>(spec, &device).unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.starts_with("no device found for backend 'wgpu:7'"),
        "{text}"
    );
}

/// Gradients of `f(x, w)` (summed against a fixed output gradient) on backend `B`.
fn grads<B: nas_core::backend::NasAutodiffBackend>(
    device: &B::Device,
    x: (&[f32], [usize; 4]),
    w: (&[f32], [usize; 4]),
    g: &[f32],
    f: impl Fn(Tensor<B, 4>, Tensor<B, 4>) -> Tensor<B, 4>,
) -> [Vec<f32>; 2] {
    let xt = Tensor::<B, 4>::from_data(TensorData::new(x.0.to_vec(), x.1), device).require_grad();
    let wt = Tensor::<B, 4>::from_data(TensorData::new(w.0.to_vec(), w.1), device).require_grad();
    let y = f(xt.clone(), wt.clone());
    let gt = Tensor::<B, 4>::from_data(TensorData::new(g.to_vec(), y.dims()), device);
    let gr = (y * gt).sum().backward();
    let host = |t: Tensor<B::InnerBackend, 4>| t.into_data().iter::<f32>().collect::<Vec<f32>>();
    [host(xt.grad(&gr).unwrap()), host(wt.grad(&gr).unwrap())]
}

/// The factorized reduction's shift: drop the first row and column, pad the last.
fn shift<B: burn::tensor::backend::Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    x.slice(burn::tensor::s![.., .., 1..h, 1..w])
        .pad((0, 1, 0, 1), burn::tensor::ops::PadMode::Constant(0.0))
}

/// The channels split in two and concatenated back in the other order.
fn halves<B: burn::tensor::backend::Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [_, c, _, _] = x.dims();
    let a = x.clone().slice(burn::tensor::s![.., 0..c / 2]);
    let b = x.slice(burn::tensor::s![.., c / 2..c]);
    Tensor::cat(vec![b, a], 1)
}

/// Each custom operation's gradients on wgpu against Flex: the depthwise convolution, the
/// dense one (3x3 with padding, 1x1), 3x3 max pooling, batch normalisation with batch
/// statistics and a broadcast product; and burn's operations the network also uses.
#[test]
fn wgpu_operation_gradients_match_cpu() {
    use burn::backend::Autodiff;
    use burn::tensor::ops::ConvOptions;
    let device = WgpuDevice::DefaultDevice;
    if !adapter(&device) {
        return;
    }
    let mut rng = StdRng::seed_from_u64(11);
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let xs = [4, 8, 14, 14];
    let x = draw(xs.iter().product());
    let g = draw(xs.iter().product());
    type Gpu = Autodiff<Wgpu>;
    type Cpu = Autodiff<Flex>;
    let cases: Vec<(&str, [usize; 4])> = vec![
        ("depthwise 3x3", [8, 1, 3, 3]),
        ("depthwise 7x7", [8, 1, 7, 7]),
        ("dense 3x3", [8, 8, 3, 3]),
        ("dense 1x1", [8, 8, 1, 1]),
        ("max pool", [1, 1, 1, 1]),
        ("batch norm", [1, 1, 1, 1]),
        ("broadcast", [1, 8, 1, 1]),
        ("avg pool", [1, 1, 1, 1]),
        ("relu", [1, 1, 1, 1]),
        ("slice and pad", [1, 1, 1, 1]),
        ("concatenation", [1, 1, 1, 1]),
        ("global mean", [1, 8, 1, 1]),
    ];
    let mut failures = Vec::new();
    for (what, ws) in cases {
        let w = draw(ws.iter().product());
        let run_both =
            |fg: &dyn Fn(Tensor<Gpu, 4>, Tensor<Gpu, 4>) -> Tensor<Gpu, 4>,
             fc: &dyn Fn(Tensor<Cpu, 4>, Tensor<Cpu, 4>) -> Tensor<Cpu, 4>| {
                (
                    grads::<Gpu>(&device, (&x, xs), (&w, ws), &g, fg),
                    grads::<Cpu>(&Default::default(), (&x, xs), (&w, ws), &g, fc),
                )
            };
        let pad = ws[2] / 2;
        let opts = ConvOptions::new([1, 1], [pad, pad], [1, 1], 1);
        let (a, b) = match what {
            w if w.starts_with("depthwise") => run_both(
                &|x, w| nas_core::backend::depthwise_conv2d(x, w),
                &|x, w| nas_core::backend::depthwise_conv2d(x, w),
            ),
            w if w.starts_with("dense") => run_both(
                &|x, w| nas_core::backend::dense_conv2d(x, w, opts.clone()),
                &|x, w| nas_core::backend::dense_conv2d(x, w, opts.clone()),
            ),
            "batch norm" => run_both(
                &|x, w| {
                    let n = nas_core::ops::Norm::new(8, &LayerConfig::new(), &x.device());
                    n.forward(x, nas_core::ops::NormMode::Batch) * w.sum().unsqueeze()
                },
                &|x, w| {
                    let n = nas_core::ops::Norm::new(8, &LayerConfig::new(), &x.device());
                    n.forward(x, nas_core::ops::NormMode::Batch) * w.sum().unsqueeze()
                },
            ),
            "broadcast" => run_both(&|x, w| x * w, &|x, w| x * w),
            // The network's other operations: 3x3 average pooling without the padding in
            // the count, ReLU, the factorized reduction's shift (slice + pad), the cell's
            // concatenation and the classifier's global mean.
            "avg pool" => run_both(
                &|x, w| {
                    burn::tensor::module::avg_pool2d(x, [3, 3], [1, 1], [1, 1], false, false)
                        * w.sum().unsqueeze()
                },
                &|x, w| {
                    burn::tensor::module::avg_pool2d(x, [3, 3], [1, 1], [1, 1], false, false)
                        * w.sum().unsqueeze()
                },
            ),
            "relu" => run_both(
                &|x, w| burn::tensor::activation::relu(x) * w.sum().unsqueeze(),
                &|x, w| burn::tensor::activation::relu(x) * w.sum().unsqueeze(),
            ),
            "slice and pad" => run_both(&|x, w| shift(x) * w.sum().unsqueeze(), &|x, w| {
                shift(x) * w.sum().unsqueeze()
            }),
            "concatenation" => run_both(&|x, w| halves(x) * w.sum().unsqueeze(), &|x, w| {
                halves(x) * w.sum().unsqueeze()
            }),
            "global mean" => run_both(
                &|x, w| (x.mean_dim(3).mean_dim(2) * w).expand([4, 8, 14, 14]),
                &|x, w| (x.mean_dim(3).mean_dim(2) * w).expand([4, 8, 14, 14]),
            ),
            _ => run_both(
                &|x, w| nas_core::backend::max_pool3x3(x) * w.sum().unsqueeze(),
                &|x, w| nas_core::backend::max_pool3x3(x) * w.sum().unsqueeze(),
            ),
        };
        for (i, name) in ["x", "weight"].iter().enumerate() {
            let d = a[i]
                .iter()
                .zip(&b[i])
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            let scale = b[i].iter().map(|v| v.abs()).fold(1f32, f32::max);
            eprintln!(
                "{what}, gradient of {name}: max |wgpu - cpu| = {d:.2e} (largest {scale:.2})"
            );
            if d > 1e-4 * scale {
                failures.push(format!("{what}, {name}: {d:.2e}"));
            }
        }
    }
    assert!(failures.is_empty(), "gradients differ: {failures:?}");
}

/// A known wgpu defect (burn 0.21 on lavapipe): the gradient of `x * r` where `r` is a
/// small tensor reshaped, repeated (or expanded) and reshaped again comes out wrong
/// (0.86-0.99 off with gradients of size 1), while the same product with a leaf of
/// `r`'s shape is right, and so is every operation above. It was taken for the reason one
/// SGD step of the supernet on wgpu differs from Flex by 2.4e-2 (`cross_backend`) although
/// the logits agree to 1e-6; but training no longer differentiates such a product (batch
/// normalisation has its own backward) and the step still differs by the same 2.35e-2, so
/// that cause is still unknown. Ignored until fixed: `cargo test -p nas-backends --features
/// wgpu --test wgpu_vs_cpu -- --ignored` shows it.
#[test]
#[ignore = "known wgpu defect: wrong gradient through reshape-repeat-reshape"]
fn wgpu_gradient_through_a_reshaped_repeat_matches_cpu() {
    use burn::backend::Autodiff;
    let device = WgpuDevice::DefaultDevice;
    let mut rng = StdRng::seed_from_u64(11);
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (xs, ws) = ([4, 8, 14, 14], [1, 8, 1, 1]);
    let (x, g, w) = (draw(4 * 8 * 14 * 14), draw(4 * 8 * 14 * 14), draw(8));
    let f = |x: Tensor<_, 4>, w: Tensor<_, 4>| {
        x * w.reshape([1, 8, 1]).repeat_dim(0, 4).reshape([4, 8, 1, 1])
    };
    let a = grads::<Autodiff<Wgpu>>(&device, (&x, xs), (&w, ws), &g, f);
    let b = grads::<Autodiff<Flex>>(&Default::default(), (&x, xs), (&w, ws), &g, |x, w| {
        x * w.reshape([1, 8, 1]).repeat_dim(0, 4).reshape([4, 8, 1, 1])
    });
    let d = a[0]
        .iter()
        .zip(&b[0])
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-5, "the gradient of x differs by {d}");
}
