//! The convolutions with their own backward pass against burn's stock `conv2d`: outputs
//! and both gradients, on Flex and NdArray, for several batch / channel / size
//! combinations. The depthwise one (square and 1xk / kx1 kernels) against a grouped
//! `conv2d`, its generic weight gradient (what GPU backends use) and direct CPU kernel
//! against a plain sum; the dense one for every kernel, stride and padding the network
//! uses; 3x3 max pooling against burn's, ties included; 3x3 average pooling (padding not
//! counted) against burn's, bit for bit on Flex; ReLU against burn's, bit for bit;
//! the fused batch normalisation (output, statistics and the three gradients) against
//! burn's element-wise operations. With the `tch` feature, the same on LibTorch.

use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use nas_core::backend::{
    NasAutodiffBackend, NasBackend, avg_pool3x3, batch_norm, batch_norm_backward_ops,
    batch_norm_ops, dense_conv2d, depthwise_conv2d, depthwise_weight_grad, grouped_weight_backward,
    max_pool3x3,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KERNELS: [[usize; 2]; 5] = [[3, 3], [5, 5], [7, 7], [1, 7], [7, 1]];
const SHAPES: [[usize; 4]; 3] = [[2, 3, 5, 6], [4, 8, 14, 14], [1, 16, 7, 9]];

fn random(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn tensor<B: Backend>(v: &[f32], shape: [usize; 4]) -> Tensor<B, 4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Default::default())
}

fn values<B: Backend>(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().unwrap()
}

/// Largest difference relative to the largest magnitude of `want` (at least 1).
fn rel_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// Output, input gradient and weight gradient of ours and of burn's agree to 1e-5
/// (relative to the largest magnitude).
fn assert_close(case: &str, ours: &[Vec<f32>; 3], stock: &[Vec<f32>; 3]) {
    for (what, (a, b)) in ["output", "x gradient", "weight gradient"]
        .iter()
        .zip(ours.iter().zip(stock))
    {
        let d = rel_diff(a, b);
        assert!(d < 1e-5, "{case}: {what} differs by {d:e} (relative)");
    }
}

/// `(output, dL/dx, dL/dw)` for `L = sum(output * r)`, through ours or through `conv2d`.
fn run<B: NasAutodiffBackend>(
    ours: bool,
    x: &[f32],
    w: &[f32],
    r: &[f32],
    shape: [usize; 4],
    kernel: [usize; 2],
) -> [Vec<f32>; 3] {
    let [_, c, _, _] = shape;
    let wshape = [c, 1, kernel[0], kernel[1]];
    let xt = tensor::<B>(x, shape).require_grad();
    let wt = tensor::<B>(w, wshape).require_grad();
    let out = if ours {
        depthwise_conv2d(xt.clone(), wt.clone())
    } else {
        let options = ConvOptions::new([1, 1], [kernel[0] / 2, kernel[1] / 2], [1, 1], c);
        conv2d(xt.clone(), wt.clone(), None, options)
    };
    let loss = out.clone().mul(tensor::<B>(r, shape)).sum();
    let grads = loss.backward();
    let gx = xt.grad(&grads).unwrap();
    let gw = wt.grad(&grads).unwrap();
    [
        values(out.inner()),
        values::<B::InnerBackend>(gx),
        values::<B::InnerBackend>(gw),
    ]
}

fn check_against_conv2d<B: NasAutodiffBackend>(name: &str) {
    let mut rng = StdRng::seed_from_u64(7);
    for shape in SHAPES {
        for kernel in KERNELS {
            let [n, c, h, w] = shape;
            let x = random(n * c * h * w, &mut rng);
            let wt = random(c * kernel[0] * kernel[1], &mut rng);
            let r = random(n * c * h * w, &mut rng);
            let ours = run::<B>(true, &x, &wt, &r, shape, kernel);
            let stock = run::<B>(false, &x, &wt, &r, shape, kernel);
            let case = format!("{name}: depthwise, input {shape:?}, kernel {kernel:?}");
            assert_close(&case, &ours, &stock);
        }
    }
}

#[test]
fn matches_conv2d_on_flex() {
    check_against_conv2d::<Autodiff<Flex>>("flex");
}

#[test]
fn matches_conv2d_on_ndarray() {
    check_against_conv2d::<Autodiff<NdArray>>("ndarray");
}

/// The default weight gradient (one grouped convolution, what GPU backends run) against the
/// direct CPU kernel and against a plain sum.
#[test]
fn weight_gradient_paths_agree_with_a_plain_sum() {
    let mut rng = StdRng::seed_from_u64(3);
    for shape in SHAPES {
        for kernel in KERNELS {
            let [n, c, h, w] = shape;
            let x = random(n * c * h * w, &mut rng);
            let g = random(n * c * h * w, &mut rng);
            let (ph, pw) = (kernel[0] as isize / 2, kernel[1] as isize / 2);
            let mut plain = vec![0f64; c * kernel[0] * kernel[1]];
            for b in 0..n {
                for ch in 0..c {
                    for i in 0..kernel[0] {
                        for j in 0..kernel[1] {
                            for y in 0..h {
                                for xx in 0..w {
                                    let sy = y as isize + i as isize - ph;
                                    let sx = xx as isize + j as isize - pw;
                                    if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                        continue;
                                    }
                                    let at = |v: &[f32], yy: usize, xi: usize| {
                                        v[((b * c + ch) * h + yy) * w + xi] as f64
                                    };
                                    plain[(ch * kernel[0] + i) * kernel[1] + j] +=
                                        at(&g, y, xx) * at(&x, sy as usize, sx as usize);
                                }
                            }
                        }
                    }
                }
            }
            let plain: Vec<f32> = plain.into_iter().map(|v| v as f32).collect();
            let direct = depthwise_weight_grad(&x, &g, shape, kernel);
            let d = rel_diff(&direct, &plain);
            assert!(d < 1e-5, "direct kernel: {d:e} for {shape:?} {kernel:?}");
            let grouped = grouped_weight_backward::<Flex>(
                tensor::<Flex>(&x, shape).into_primitive().tensor(),
                tensor::<Flex>(&g, shape).into_primitive().tensor(),
                kernel,
            );
            let grouped = values(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
                grouped,
            )));
            let d = rel_diff(&grouped, &plain);
            assert!(
                d < 1e-5,
                "grouped convolution: {d:e} for {shape:?} {kernel:?}"
            );
        }
    }
}

/// Without autodiff (one-shot scoring) the operation is the backend's forward.
#[test]
fn inference_forward_matches_conv2d() {
    let mut rng = StdRng::seed_from_u64(11);
    let shape = [3, 8, 9, 9];
    let x = random(3 * 8 * 81, &mut rng);
    let w = random(8 * 9, &mut rng);
    let ours = depthwise_conv2d(tensor::<Flex>(&x, shape), tensor::<Flex>(&w, [8, 1, 3, 3]));
    let stock = conv2d(
        tensor::<Flex>(&x, shape),
        tensor::<Flex>(&w, [8, 1, 3, 3]),
        None,
        ConvOptions::new([1, 1], [1, 1], [1, 1], 8),
    );
    assert!(rel_diff(&values(ours), &values(stock)) < 1e-6);
}

/// `(output, dL/dx, dL/dw)` for `L = sum(output * r)` of a dense convolution, through ours
/// or through `conv2d`.
#[allow(clippy::too_many_arguments)]
fn run_dense<B: NasAutodiffBackend>(
    ours: bool,
    x: &[f32],
    w: &[f32],
    shape: [usize; 4],
    wshape: [usize; 4],
    options: &ConvOptions<2>,
    rng: &mut StdRng,
) -> [Vec<f32>; 3] {
    let xt = tensor::<B>(x, shape).require_grad();
    let wt = tensor::<B>(w, wshape).require_grad();
    let out = if ours {
        dense_conv2d(xt.clone(), wt.clone(), options.clone())
    } else {
        conv2d(xt.clone(), wt.clone(), None, options.clone())
    };
    let dims = out.dims();
    let r = random(dims.iter().product(), rng);
    let loss = out.clone().mul(tensor::<B>(&r, dims)).sum();
    let grads = loss.backward();
    [
        values(out.inner()),
        values::<B::InnerBackend>(xt.grad(&grads).unwrap()),
        values::<B::InnerBackend>(wt.grad(&grads).unwrap()),
    ]
}

fn check_dense<B: NasAutodiffBackend>(name: &str) {
    // (kernel, stride, padding): the network's 1x1, stride-2 1x1 (factorized reduction),
    // 3x3 stem, 1x7 and 7x1 convolutions, and a 5x5 without padding.
    let cases = [
        ([1, 1], 1, [0, 0]),
        ([1, 1], 2, [0, 0]),
        ([3, 3], 1, [1, 1]),
        ([1, 7], 1, [0, 3]),
        ([7, 1], 1, [3, 0]),
        ([5, 5], 1, [0, 0]),
    ];
    let mut rng = StdRng::seed_from_u64(5);
    for [n, ci, h, w] in [[2, 3, 5, 6], [4, 8, 14, 14], [1, 16, 7, 9]] {
        for (kernel, stride, padding) in cases {
            if kernel[0] > h + 2 * padding[0] || kernel[1] > w + 2 * padding[1] {
                continue;
            }
            let co = ci + 2;
            let options = ConvOptions::new([stride, stride], padding, [1, 1], 1);
            let wshape = [co, ci, kernel[0], kernel[1]];
            let x = random(n * ci * h * w, &mut rng);
            let wt = random(wshape.iter().product(), &mut rng);
            let seed = rng.random();
            let ours = run_dense::<B>(
                true,
                &x,
                &wt,
                [n, ci, h, w],
                wshape,
                &options,
                &mut StdRng::seed_from_u64(seed),
            );
            let stock = run_dense::<B>(
                false,
                &x,
                &wt,
                [n, ci, h, w],
                wshape,
                &options,
                &mut StdRng::seed_from_u64(seed),
            );
            let case = format!(
                "{name}: dense, input {:?}, kernel {kernel:?}, stride {stride}, padding {padding:?}",
                [n, ci, h, w]
            );
            assert_close(&case, &ours, &stock);
        }
    }
}

#[test]
fn dense_matches_conv2d_on_flex() {
    check_dense::<Autodiff<Flex>>("flex");
}

#[test]
fn dense_matches_conv2d_on_ndarray() {
    check_dense::<Autodiff<NdArray>>("ndarray");
}

/// `(output, dL/dx)` of a unary operation `f` for `L = sum(output * r)`.
fn value_and_grad<B: NasAutodiffBackend>(
    f: impl Fn(Tensor<B, 4>) -> Tensor<B, 4>,
    x: &[f32],
    r: &[f32],
    shape: [usize; 4],
) -> [Vec<f32>; 2] {
    let xt = tensor::<B>(x, shape).require_grad();
    let out = f(xt.clone());
    let loss = out.clone().mul(tensor::<B>(r, shape)).sum();
    let grads = loss.backward();
    [
        values(out.inner()),
        values::<B::InnerBackend>(xt.grad(&grads).unwrap()),
    ]
}

/// `(output, dL/dx)` of 3x3 max pooling (stride 1, padding 1), ours or burn's.
fn run_pool<B: NasAutodiffBackend>(
    ours: bool,
    x: &[f32],
    r: &[f32],
    shape: [usize; 4],
) -> [Vec<f32>; 2] {
    if ours {
        value_and_grad::<B>(max_pool3x3, x, r, shape)
    } else {
        value_and_grad::<B>(
            |t| max_pool2d(t, [3, 3], [1, 1], [1, 1], [1, 1], false),
            x,
            r,
            shape,
        )
    }
}

fn check_pool<B: NasAutodiffBackend>(name: &str) {
    let mut rng = StdRng::seed_from_u64(9);
    for shape in SHAPES {
        let len = shape.iter().product();
        // Continuous values, then values with many ties (rounded, half of them zero).
        let smooth = random(len, &mut rng);
        let ties: Vec<f32> = random(len, &mut rng)
            .into_iter()
            .map(|v| (v * 2.0).round().max(0.0))
            .collect();
        for x in [smooth, ties] {
            let r = random(len, &mut rng);
            let ours = run_pool::<B>(true, &x, &r, shape);
            let stock = run_pool::<B>(false, &x, &r, shape);
            assert_eq!(ours[0], stock[0], "{name}: max pool output for {shape:?}");
            let d = rel_diff(&ours[1], &stock[1]);
            assert!(
                d < 1e-6,
                "{name}: max pool gradient differs by {d:e} for {shape:?}"
            );
        }
    }
}

#[test]
fn max_pool_matches_burn_on_flex() {
    check_pool::<Autodiff<Flex>>("flex");
}

#[test]
fn max_pool_matches_burn_on_ndarray() {
    check_pool::<Autodiff<NdArray>>("ndarray");
}

/// 3x3 average pooling (stride 1, padding 1, the padding not counted), ours against
/// burn's: bit for bit where `exact` (Flex, whose kernels add the same values
/// in the same order), else within 1e-6 relative. Shapes include planes of one row or
/// column, where windows hold 1 to 3 taps.
fn check_avg_pool<B: NasAutodiffBackend>(name: &str, exact: bool) {
    let mut rng = StdRng::seed_from_u64(11);
    for shape in SHAPES
        .into_iter()
        .chain([[2, 3, 1, 5], [1, 2, 4, 1], [1, 1, 1, 1]])
    {
        let len = shape.iter().product();
        let x = random(len, &mut rng);
        let r = random(len, &mut rng);
        let ours = value_and_grad::<B>(avg_pool3x3, &x, &r, shape);
        let stock = value_and_grad::<B>(
            |t| avg_pool2d(t, [3, 3], [1, 1], [1, 1], false, false),
            &x,
            &r,
            shape,
        );
        if exact {
            assert_eq!(ours, stock, "{name}: average pooling for {shape:?}");
        } else {
            for (what, (a, b)) in ["output", "gradient"].iter().zip(ours.iter().zip(&stock)) {
                let d = rel_diff(a, b);
                assert!(
                    d < 1e-6,
                    "{name}: average pooling {what} differs by {d:e} for {shape:?}"
                );
            }
        }
    }
}

#[test]
fn avg_pool_matches_burn_bit_for_bit_on_flex() {
    check_avg_pool::<Autodiff<Flex>>("flex", true);
}

#[test]
fn avg_pool_matches_burn_on_ndarray() {
    check_avg_pool::<Autodiff<NdArray>>("ndarray", false);
}

/// `(output, dL/dx)` of ReLU, ours (its own node and backward) or burn's.
fn run_relu<B: NasAutodiffBackend>(
    ours: bool,
    x: &[f32],
    r: &[f32],
    shape: [usize; 4],
) -> [Vec<f32>; 2] {
    if ours {
        value_and_grad::<B>(nas_core::backend::relu, x, r, shape)
    } else {
        value_and_grad::<B>(burn::tensor::activation::relu, x, r, shape)
    }
}

/// Ours against burn's, bit for bit, with exact zeros among the inputs (where the gradient
/// is 0 in both).
fn check_relu<B: NasAutodiffBackend>(name: &str) {
    let mut rng = StdRng::seed_from_u64(10);
    for shape in SHAPES {
        let len = shape.iter().product();
        let x: Vec<f32> = random(len, &mut rng)
            .into_iter()
            .map(|v| if v.abs() < 0.2 { 0.0 } else { v })
            .collect();
        let r = random(len, &mut rng);
        let ours = run_relu::<B>(true, &x, &r, shape);
        let stock = run_relu::<B>(false, &x, &r, shape);
        assert_eq!(ours, stock, "{name}: ReLU for {shape:?}");
        // Both branches of the gradient are exercised.
        assert!(ours[1].contains(&0.0) && ours[1].iter().any(|&g| g != 0.0));
    }
}

#[test]
fn relu_matches_burn_on_flex() {
    check_relu::<Autodiff<Flex>>("flex");
}

#[test]
fn relu_matches_burn_on_ndarray() {
    check_relu::<Autodiff<NdArray>>("ndarray");
}

/// `[y, dL/dx, dL/dgamma, dL/dbeta]` for `L = sum(y * r)`, through the fused batch
/// normalisation or through burn's element-wise operations (differentiated by burn).
fn run_norm<B: NasAutodiffBackend>(
    fused: bool,
    [x, gamma, beta, r]: [&[f32]; 4],
    shape: [usize; 4],
    epsilon: f64,
) -> [Vec<f32>; 4] {
    let c = shape[1];
    let channels = |v: &[f32]| {
        Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [c]), &Default::default())
            .require_grad()
    };
    let xt = tensor::<B>(x, shape).require_grad();
    let (gt, bt) = (channels(gamma), channels(beta));
    let y = if fused {
        batch_norm(xt.clone(), gt.clone(), bt.clone(), epsilon).0
    } else {
        let prim = |t: Tensor<B, 1>| t.into_primitive().tensor();
        let [y, _, _] = batch_norm_ops::<B>(
            xt.clone().into_primitive().tensor(),
            prim(gt.clone()),
            prim(bt.clone()),
            epsilon,
        );
        Tensor::from_primitive(TensorPrimitive::Float(y))
    };
    let grads = y.clone().mul(tensor::<B>(r, shape)).sum().backward();
    let flat = |t: Tensor<B::InnerBackend, 1>| t.into_data().convert::<f32>().into_vec().unwrap();
    [
        values(y.inner()),
        values::<B::InnerBackend>(xt.grad(&grads).unwrap()),
        flat(gt.grad(&grads).unwrap()),
        flat(bt.grad(&grads).unwrap()),
    ]
}

fn check_batch_norm<B: NasAutodiffBackend>(name: &str) {
    let mut rng = StdRng::seed_from_u64(11);
    for shape in SHAPES.into_iter().chain([[64, 8, 14, 14], [3, 5, 1, 1]]) {
        for epsilon in [1e-5, 1e-3] {
            let [n, c, h, w] = shape;
            // Inputs off centre and scaled per channel, as activations are.
            let x: Vec<f32> = random(n * c * h * w, &mut rng)
                .into_iter()
                .enumerate()
                .map(|(i, v)| v * (1.0 + (i / (h * w) % c) as f32) + 2.0)
                .collect();
            let gamma: Vec<f32> = random(c, &mut rng).iter().map(|v| v + 1.5).collect();
            let beta = random(c, &mut rng);
            let r = random(n * c * h * w, &mut rng);
            let inputs = [&x[..], &gamma, &beta, &r];
            let fused = run_norm::<B>(true, inputs, shape, epsilon);
            let ops = run_norm::<B>(false, inputs, shape, epsilon);
            let case = format!("{name}: batch norm, input {shape:?}, epsilon {epsilon}");
            for (what, (a, b)) in ["output", "x gradient", "gamma gradient", "beta gradient"]
                .iter()
                .zip(fused.iter().zip(&ops))
            {
                let d = rel_diff(a, b);
                assert!(d < 1e-4, "{case}: {what} differs by {d:e} (relative)");
            }

            // The statistics, and the generic backward (what the GPU backends run) against
            // this backend's, without autodiff.
            type Inner<B> = <B as AutodiffBackend>::InnerBackend;
            let prim4 = |v: &[f32]| tensor::<Inner<B>>(v, shape).into_primitive().tensor();
            let prim1 = |v: &[f32]| {
                Tensor::<Inner<B>, 1>::from_data(
                    TensorData::new(v.to_vec(), [c]),
                    &Default::default(),
                )
                .into_primitive()
                .tensor()
            };
            let flat = |t| {
                Tensor::<Inner<B>, 1>::from_primitive(TensorPrimitive::Float(t))
                    .into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .unwrap()
            };
            let [_, mean, var] =
                Inner::<B>::batch_norm(prim4(&x), prim1(&gamma), prim1(&beta), epsilon);
            let [_, mean_ops, var_ops] =
                batch_norm_ops::<Inner<B>>(prim4(&x), prim1(&gamma), prim1(&beta), epsilon);
            let (mean, var) = (flat(mean), flat(var));
            assert!(
                rel_diff(&mean, &flat(mean_ops)) < 1e-5,
                "{case}: means differ"
            );
            assert!(
                rel_diff(&var, &flat(var_ops)) < 1e-5,
                "{case}: variances differ"
            );
            let backward = |generic: bool| {
                let args = (
                    prim4(&x),
                    prim1(&gamma),
                    prim1(&mean),
                    prim1(&var),
                    epsilon,
                    prim4(&r),
                );
                let all = if generic {
                    batch_norm_backward_ops::<Inner<B>>(
                        args.0, args.1, args.2, args.3, args.4, args.5, [true; 3],
                    )
                } else {
                    Inner::<B>::batch_norm_backward(
                        args.0, args.1, args.2, args.3, args.4, args.5, [true; 3],
                    )
                };
                let [dx, dg, db] = all.map(Option::unwrap);
                let dx = Tensor::<Inner<B>, 4>::from_primitive(TensorPrimitive::Float(dx));
                [values(dx), flat(dg), flat(db)]
            };
            let (here, generic) = (backward(false), backward(true));
            for (what, (a, b)) in ["x", "gamma", "beta"].iter().zip(here.iter().zip(&generic)) {
                let d = rel_diff(a, b);
                assert!(d < 1e-4, "{case}: generic {what} gradient differs by {d:e}");
            }
        }
    }
}

#[test]
fn batch_norm_matches_burns_operations_on_flex() {
    check_batch_norm::<Autodiff<Flex>>("flex");
}

#[test]
fn batch_norm_matches_burns_operations_on_ndarray() {
    check_batch_norm::<Autodiff<NdArray>>("ndarray");
}

/// The same checks on LibTorch, whose convolution gradients come from libtorch's own
/// `convolution_backward` and whose pooling keeps its indices for the backward.
#[cfg(feature = "tch")]
mod libtorch {
    use burn::backend::{Autodiff, LibTorch};

    #[test]
    fn depthwise_matches_conv2d_on_libtorch() {
        super::check_against_conv2d::<Autodiff<LibTorch>>("tch");
    }

    #[test]
    fn dense_matches_conv2d_on_libtorch() {
        super::check_dense::<Autodiff<LibTorch>>("tch");
    }

    #[test]
    fn max_pool_matches_burn_on_libtorch() {
        super::check_pool::<Autodiff<LibTorch>>("tch");
    }

    #[test]
    fn avg_pool_matches_burn_on_libtorch() {
        super::check_avg_pool::<Autodiff<LibTorch>>("tch", false);
    }

    #[test]
    fn relu_matches_burn_on_libtorch() {
        super::check_relu::<Autodiff<LibTorch>>("tch");
    }
}
