//! The run-level check across CPU backends: `nas train` and `nas search` of the tiny run,
//! one supernet epoch (3 SGD steps), on Flex and on NdArray from the same seed.
//!
//! The initial weights are the same on both (drawn on the host; `nas-backends`'
//! `cross_backend` test checks them bit for bit), the kernels are not: they sum in other
//! orders, and training amplifies the last-bit differences about tenfold per step early on
//! at the default learning rate. Measured on the tiny run: after 3 steps one-shot losses
//! differ by at most 0.0023 and accuracies by at most 1 of 64 images; after 9 steps by
//! 0.068 and 4 images; after the 2 epochs of `nas run --quick` (about 90 steps), by up to
//! 0.235 of accuracy on 200 images, as much as two seeds. docs/method.md has the figures.

mod common;

use std::path::Path;

use common::{TINY, check_ok, nas, read_json, search_log};
use serde_json::Value;

/// One-shot loss may differ by this much after 3 steps (measured: 0.0023).
const LOSS_TOLERANCE: f64 = 0.01;
/// One-shot accuracy may differ by this many of the 64 validation images (measured: 1).
const IMAGES_TOLERANCE: f64 = 2.0;

fn train_and_search(dir: &Path, backend: &str) -> Vec<Value> {
    for phase in ["train", "search"] {
        let out = nas()
            .args([phase, "-q", "--backend", backend, "--out"])
            .arg(dir)
            .args(TINY)
            .args(["--set", "supernet.epochs=1"])
            .output()
            .unwrap();
        check_ok(&out, &format!("{phase} on {backend}"));
    }
    std::fs::read_to_string(search_log(dir))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Trains and searches the tiny run on backends `a` and `b` and checks that they sample the
/// same architectures, score them within the tolerances, and key their supernets alike.
fn same_run_on(a: &str, b: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let first = train_and_search(&tmp.path().join("a"), a);
    let second = train_and_search(&tmp.path().join("b"), b);
    assert_eq!(first.len(), second.len());
    let (mut loss, mut images) = (0f64, 0f64);
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(
            x["arch"], y["arch"],
            "the same seed samples the same architectures"
        );
        loss = loss.max((x["loss"].as_f64().unwrap() - y["loss"].as_f64().unwrap()).abs());
        let n = x["examples"].as_f64().unwrap();
        images = images
            .max((x["accuracy"].as_f64().unwrap() - y["accuracy"].as_f64().unwrap()).abs() * n);
    }
    eprintln!(
        "{a} vs {b} after 3 steps: max |one-shot loss difference| {loss:.2e}, \
         max |accuracy difference| {images:.0} images"
    );
    assert!(loss <= LOSS_TOLERANCE, "one-shot losses differ by {loss}");
    assert!(
        images <= IMAGES_TOLERANCE,
        "one-shot accuracies differ by {images} images"
    );
    // The two supernets were keyed alike: the backend is not part of what they depend on.
    let key = |dir: &str| {
        read_json(&common::only_dir(&tmp.path().join(dir), "supernet", "").join("setup.json"))
    };
    assert_eq!(key("a"), key("b"));
}

#[test]
fn flex_and_ndarray_sample_the_same_architectures_and_score_them_alike() {
    same_run_on("flex", "ndarray");
}

/// LibTorch (with libtorch's convolution backward) against Flex, within the same tolerances.
#[cfg(feature = "tch")]
#[test]
fn flex_and_libtorch_sample_the_same_architectures_and_score_them_alike() {
    same_run_on("flex", "tch:cpu");
}

/// `tch:cuda:N` where libtorch sees no GPU: a clear error, before anything is written.
#[cfg(feature = "tch")]
#[test]
fn libtorch_without_a_gpu_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cuda");
    let out = nas()
        .args(["run", "--quick", "-q", "--backend", "tch:cuda:7", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // "libtorch sees no CUDA device", or on a GPU machine "libtorch sees 1 CUDA device(s)".
    assert!(stderr.contains("libtorch sees"), "{stderr}");
}

/// wgpu on the CPU's Vulkan driver against Flex, within the same tolerances as the CPU
/// backends. It needs an adapter of kind CPU: on Debian, `apt-get install
/// mesa-vulkan-drivers` (lavapipe), as CI does; without one it fails (the run's error
/// says "no device found for backend 'wgpu:cpu'").
///
/// Ignored: after 3 steps the one-shot losses differ by 0.092 (Flex against NdArray:
/// 0.0023), from the wgpu gradient defect that `nas-backends`'
/// `wgpu_gradient_through_a_reshaped_repeat_matches_cpu` isolates.
#[cfg(feature = "wgpu")]
#[test]
#[ignore = "known wgpu gradient defect (see nas-backends' wgpu_vs_cpu)"]
fn flex_and_wgpu_sample_the_same_architectures_and_score_them_alike() {
    same_run_on("flex", "wgpu:cpu");
}
