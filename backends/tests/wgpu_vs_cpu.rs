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

#[test]
fn wgpu_supernet_forward_matches_cpu() {
    let device = WgpuDevice::DefaultDevice;
    let spec: BackendSpec = "wgpu:default".parse().unwrap();
    if let Err(e) = nas_backends::probe::<Wgpu>(spec, &device) {
        if std::env::var("NAS_REQUIRE_WGPU").is_ok_and(|v| v == "1") {
            panic!("NAS_REQUIRE_WGPU=1 but {e}");
        }
        eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers for a CPU Vulkan driver)");
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
