//! Backend selection, and the core supernet invariant run on every compiled-in backend.

use burn::module::Module;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use nas_backends::{Adapter, BackendError, BackendKind, BackendSpec, BackendTask, available, run};
use nas_core::backend::NasAutodiffBackend;
use nas_core::ops::{LayerConfig, NormMode};
use nas_core::space::SearchSpace;
use nas_core::supernet::Supernet;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn default_build_has_both_cpu_backends() {
    let a = available();
    assert!(
        a.contains(&BackendKind::Flex) && a.contains(&BackendKind::NdArray),
        "{a:?}"
    );
}

#[test]
fn specs_parse_and_bad_ones_are_clear_errors() {
    let s: BackendSpec = "flex".parse().unwrap();
    assert_eq!((s.kind, s.index), (BackendKind::Flex, 0));
    let s: BackendSpec = "ndarray:0".parse().unwrap();
    assert_eq!(s.to_string(), "ndarray:0");
    let err = "tpu".parse::<BackendSpec>().unwrap_err();
    assert!(matches!(err, BackendError::Unknown { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("'tpu'") && msg.contains("flex") && msg.contains("ndarray"),
        "{msg}"
    );
    let msg = "flex:1".parse::<BackendSpec>().unwrap_err().to_string();
    assert!(msg.contains("only device 0"), "{msg}");
    let msg = "flex:x".parse::<BackendSpec>().unwrap_err().to_string();
    assert!(msg.contains("'x' is not a device index"), "{msg}");
    let msg = "flex:cpu".parse::<BackendSpec>().unwrap_err().to_string();
    assert!(msg.contains("not a device kind of 'flex'"), "{msg}");
    let msg = "flex:0:1".parse::<BackendSpec>().unwrap_err().to_string();
    assert!(msg.contains("too many"), "{msg}");
    if BackendKind::Wgpu.compiled() {
        // Every adapter kind parses and prints back as given; `wgpu:N` is discrete GPU N.
        for text in [
            "wgpu:1",
            "wgpu:integrated:0",
            "wgpu:virtual:2",
            "wgpu:cpu",
            "wgpu:default",
        ] {
            let s: BackendSpec = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
        }
        let s: BackendSpec = "wgpu:3".parse().unwrap();
        assert_eq!((s.adapter, s.index), (Adapter::Discrete, 3));
        let s: BackendSpec = "WGPU:Integrated".parse().unwrap();
        assert_eq!((s.adapter, s.index), (Adapter::Integrated, 0));
        let msg = "wgpu:cpu:1".parse::<BackendSpec>().unwrap_err().to_string();
        assert!(msg.contains("takes no index"), "{msg}");
    }
    if BackendKind::Tch.compiled() {
        let s: BackendSpec = "tch".parse().unwrap();
        assert_eq!(
            (s.adapter, s.to_string().as_str()),
            (Adapter::Cpu, "tch:cpu")
        );
        let s: BackendSpec = "tch:cuda:1".parse().unwrap();
        assert_eq!((s.adapter, s.index), (Adapter::Cuda, 1));
        assert_eq!(s.to_string(), "tch:cuda:1");
        let msg = "tch:0".parse::<BackendSpec>().unwrap_err().to_string();
        assert!(msg.contains("'tch:cpu' and 'tch:cuda:N'"), "{msg}");
        let msg = "tch:integrated"
            .parse::<BackendSpec>()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not a device kind of 'tch'"), "{msg}");
    }
    let msg = "cuda:cpu".parse::<BackendSpec>().unwrap_err().to_string();
    assert!(msg.contains("not a device kind of 'cuda'"), "{msg}");
    for gpu in [BackendKind::Wgpu, BackendKind::Cuda, BackendKind::Tch] {
        if !gpu.compiled() {
            let msg = gpu.name().parse::<BackendSpec>().unwrap_err().to_string();
            assert!(
                msg.contains("not compiled") && msg.contains("--features"),
                "{msg}"
            );
        }
    }
}

/// The supernet with one architecture's paths on equals the stand-alone model with the
/// supernet's weights: the same check as nas-core's, on the chosen backend.
struct Invariant;

impl BackendTask for Invariant {
    type Output = f32;
    fn run<B: NasAutodiffBackend>(self, device: B::Device) -> f32 {
        let space = SearchSpace {
            stacks: 2,
            filters: 4,
            classes: 5,
            input_shape: [1, 8, 8],
            ..SearchSpace::default()
        };
        let net = Supernet::<B>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
        let arch = space.sample(&mut StdRng::seed_from_u64(0));
        let x = Tensor::<B, 4>::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        let a = net.forward_architecture(x.clone(), &arch);
        let b = net.standalone(&arch).unwrap().forward(x, NormMode::Batch);
        assert!(net.num_params() > 0);
        a.sub(b).abs().max().into_scalar().elem()
    }
}

#[test]
fn core_invariant_holds_on_every_compiled_backend() {
    for kind in available() {
        let spec: BackendSpec = kind.name().parse().unwrap();
        if !kind.is_cpu() && kind != BackendKind::Tch {
            continue; // GPU backends need a device; the GPU check script covers them.
        }
        let diff = run(spec, Invariant).unwrap();
        assert!(diff < 1e-4, "{spec}: max |diff| = {diff}");
    }
}

/// Run on a GPU machine: `NAS_GPU_BACKEND=cuda:0 cargo test -p nas-backends --features cuda
/// -- --ignored` (or `wgpu:0` with `--features wgpu`); `scripts/gpu-check.sh` does this.
#[test]
#[ignore = "needs a GPU and a build with --features cuda or wgpu"]
fn core_invariant_on_gpu() {
    let given = std::env::var("NAS_GPU_BACKEND").unwrap_or_else(|_| "cuda:0".into());
    let spec: BackendSpec = given.parse().unwrap();
    let diff = run(spec, Invariant).unwrap();
    eprintln!("{spec}: supernet vs stand-alone max |diff| = {diff}");
    assert!(diff < 1e-4, "{spec}: max |diff| = {diff}");
}

#[test]
fn probe_accepts_every_compiled_cpu_backend() {
    for kind in nas_backends::available().into_iter().filter(|k| k.is_cpu()) {
        let spec: nas_backends::BackendSpec = kind.name().parse().unwrap();
        let r = match kind {
            #[cfg(feature = "flex")]
            nas_backends::BackendKind::Flex => {
                nas_backends::probe::<burn::backend::Flex>(spec, &Default::default())
            }
            #[cfg(feature = "ndarray")]
            nas_backends::BackendKind::NdArray => {
                nas_backends::probe::<burn::backend::NdArray>(spec, &Default::default())
            }
            _ => continue,
        };
        assert_eq!(r, Ok(()), "{spec}");
    }
}
