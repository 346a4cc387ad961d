//! The backend operations the networks need beyond burn's: depthwise and dense
//! convolutions, 3x3 max and average pooling and batch normalisation with batch
//! statistics, each with its own backward pass.
//!
//! burn differentiates a grouped convolution with generic code: the input gradient is a
//! transposed convolution looped over batch x group, and the weight gradient loops over
//! every channel with a small im2col convolution each. For the depthwise convolutions of the
//! separable operations that is the slowest part of a training step on the CPU. Here:
//!
//! - the input gradient is a depthwise convolution of the output gradient with the flipped
//!   kernel (the forward's fast path);
//! - the weight gradient is one grouped convolution (batch as the channels of each group) on
//!   any backend, and a direct kernel, parallel over channels, on the CPU backends.
//!
//! Dense convolutions get a cheaper backward pass too (input gradient as a forward
//! convolution, weight gradient as per-image matrix products), 3x3 max pooling a direct
//! CPU kernel in place of burn's generic pooling with indices, 3x3 average pooling a box
//! sum over a zero-bordered plane on the CPU backends (Flex's results bit for bit), and
//! batch normalisation one node with a closed-form backward in place of about ten
//! element-wise nodes (one fused kernel each way on the CPU backends).
//!
//! The CPU kernels read Flex's storage in place (no copy through `into_data`). Where a
//! concatenation's inputs are used elsewhere too, [`contiguous_grad`] keeps their
//! gradients contiguous (Flex adds strided tensors through a slow generic path).
//!
//! [`NasBackend`] carries the operations with default methods that work on any
//! backend; `Autodiff<B>` records the forward and calls `B`'s backward methods. The model
//! code is generic over [`NasBackend`] (and trains with [`NasAutodiffBackend`]).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::{Flex, NdArray};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::unfold4d;
use burn::tensor::ops::{ActivationOps, ConvOptions, FloatTensor, IntTensor, UnfoldOptions};
use burn::tensor::{Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use rayon::prelude::*;

/// A burn backend with the operations the networks need (see the module documentation).
///
/// Every method has a default that works on any backend; a backend overrides what it can
/// do faster. Tensors are `[batch, channels, height, width]`. The depthwise methods take a
/// weight of shape `[channels, 1, k_h, k_w]` (odd `k_h`, `k_w`), stride 1 and zero padding
/// `k / 2` on each side, so the output has the input's shape.
pub trait NasBackend: Backend {
    /// Depthwise convolution (one filter per channel, no bias).
    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let [c, _, kh, kw] = weight.shape().dims();
        Self::conv2d(x, weight, None, depthwise_options(c, [kh, kw]))
    }

    /// The gradient with respect to `x` of [`NasBackend::depthwise_conv2d`], given the
    /// gradient of its output: a depthwise convolution with the flipped kernel.
    fn depthwise_conv2d_x_backward(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::depthwise_conv2d(output_grad, Self::float_flip(weight, &[2, 3]))
    }

    /// The gradient with respect to the weight (`[channels, 1, kernel[0], kernel[1]]`):
    /// one grouped convolution of the input, with the batch as the channels of each group,
    /// by the output gradient as the kernel.
    fn depthwise_conv2d_weight_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        grouped_weight_backward::<Self>(x, output_grad, kernel)
    }

    /// Both gradients of [`NasBackend::depthwise_conv2d`] at once, `[x, weight]`, each
    /// computed only where `wants` asks for it. The default calls
    /// [`NasBackend::depthwise_conv2d_x_backward`] and
    /// [`NasBackend::depthwise_conv2d_weight_backward`]; a backend with one native call
    /// for both (LibTorch's convolution backward) overrides this.
    fn depthwise_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        wants: [bool; 2],
    ) -> [Option<FloatTensor<Self>>; 2] {
        let [_, _, kh, kw] = weight.shape().dims();
        let dw = wants[1]
            .then(|| Self::depthwise_conv2d_weight_backward(x, output_grad.clone(), [kh, kw]));
        let dx = wants[0].then(|| Self::depthwise_conv2d_x_backward(weight, output_grad));
        [dx, dw]
    }

    /// Both gradients of [`NasBackend::dense_conv2d`] at once, `[x, weight]`, as
    /// [`NasBackend::depthwise_conv2d_backward`] does for the depthwise convolution.
    fn dense_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        wants: [bool; 2],
    ) -> [Option<FloatTensor<Self>>; 2] {
        let shape = weight.shape().dims();
        let dw = wants[1].then(|| {
            Self::dense_conv2d_weight_backward(
                x.clone(),
                output_grad.clone(),
                shape,
                options.clone(),
            )
        });
        let dx = wants[0].then(|| Self::dense_conv2d_x_backward(x, weight, output_grad, options));
        [dx, dw]
    }

    /// The columns of a dense convolution's input (im2col): `[batch, c_in * k_h * k_w, L]`
    /// for `L` output positions, rows in the weight's order (input channel, kernel row,
    /// kernel column). The default is burn's `unfold4d`; the CPU backends copy them
    /// directly when stride and dilation are 1 ([`columns`]).
    fn dense_columns(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        options: &ConvOptions<2>,
    ) -> FloatTensor<Self> {
        unfold_columns::<Self>(x, kernel, options)
    }

    /// A dense convolution (`groups = 1`, no bias): burn's forward.
    fn dense_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The gradient with respect to `x` of [`NasBackend::dense_conv2d`]. With stride 1 and
    /// no dilation it is a forward convolution of the output gradient with the kernel
    /// flipped and its channel axes swapped (padding `k - 1 - p`); otherwise burn's.
    fn dense_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let [_, _, kh, kw] = weight.shape().dims();
        let [ph, pw] = options.padding;
        if options.stride != [1, 1] || options.dilation != [1, 1] || ph >= kh || pw >= kw {
            return Self::conv2d_x_backward(x, weight, output_grad, options);
        }
        let w = Self::float_flip(Self::float_swap_dims(weight, 0, 1), &[2, 3]);
        let options = ConvOptions::new([1, 1], [kh - 1 - ph, kw - 1 - pw], [1, 1], 1);
        Self::dense_conv2d(output_grad, w, options)
    }

    /// The gradient with respect to the weight of [`NasBackend::dense_conv2d`], as matrix
    /// products: per image, the output gradient (`[c_out, L]`, `L` output positions) by
    /// the unfolded input (`[c_in * k_h * k_w, L]`, transposed), summed over the batch.
    /// burn's generic code instead convolves the input by the whole output map.
    fn dense_conv2d_weight_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        weight_shape: [usize; 4],
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let [co, ci, kh, kw] = weight_shape;
        let x = Tensor::<Self, 4>::from_primitive(TensorPrimitive::Float(x));
        let g = Tensor::<Self, 4>::from_primitive(TensorPrimitive::Float(output_grad));
        let [n, _, h, w] = x.dims();
        let [_, _, ho, wo] = g.dims();
        let l = ho * wo;
        let cols: Tensor<Self, 3> =
            if [kh, kw] == [1, 1] && options.stride == [1, 1] && options.padding == [0, 0] {
                x.reshape([n, ci, h * w])
            } else {
                float(Self::dense_columns(prim(x), [kh, kw], &options))
            };
        let g = g.reshape([n, co, l]);
        // One product per image (the backends run a batch of products in parallel; a single
        // product with the batch folded into its inner dimension is `c_out x c_in` small and
        // runs on one core), then the sum over images in a fixed order.
        let dw = g.matmul(cols.swap_dims(1, 2)).sum_dim(0);
        let dw = dw.reshape([co, ci, kh, kw]);
        dw.into_primitive().tensor()
    }

    /// 3x3 average pooling with stride 1 and padding 1, the padding not counted in the
    /// average (the `avg3` operation): burn's.
    fn avg_pool3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::avg_pool2d(x, [3, 3], [1, 1], [1, 1], false, false)
    }

    /// The gradient with respect to `x` of [`NasBackend::avg_pool3x3`] (`x` gives the
    /// shape): burn's.
    fn avg_pool3x3_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::avg_pool2d_backward(x, output_grad, [3, 3], [1, 1], [1, 1], false, false)
    }

    /// 3x3 max pooling with stride 1 and padding 1 (the `max3` operation): burn's.
    fn max_pool3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::max_pool2d(x, [3, 3], [1, 1], [1, 1], [1, 1], false)
    }

    /// [`NasBackend::max_pool3x3`] when the backward pass will follow: also returns what
    /// that pass can reuse (burn's indices of the maxima), or `None` where
    /// [`NasBackend::max_pool3x3_backward`] finds the maxima again from `x`. The default
    /// keeps nothing.
    fn max_pool3x3_with_indices(
        x: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, Option<IntTensor<Self>>) {
        (Self::max_pool3x3(x), None)
    }

    /// The gradient with respect to `x` of [`NasBackend::max_pool3x3`]: each output's
    /// gradient goes to the first maximum of its window (row-major order), as burn's
    /// pooling does. `indices` is what [`NasBackend::max_pool3x3_with_indices`] returned.
    /// The default uses burn's indices, recomputed when `indices` is `None`.
    fn max_pool3x3_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        indices: Option<IntTensor<Self>>,
    ) -> FloatTensor<Self> {
        let indices = indices.unwrap_or_else(|| {
            Self::max_pool2d_with_indices(x.clone(), [3, 3], [1, 1], [1, 1], [1, 1], false).indices
        });
        Self::max_pool2d_with_indices_backward(
            x,
            [3, 3],
            [1, 1],
            [1, 1],
            [1, 1],
            false,
            output_grad,
            indices,
        )
        .x_grad
    }

    /// `x` with its values stored contiguously (a copy only where they are not). Under
    /// autodiff its gradient is made contiguous the same way: see [`contiguous_grad`].
    /// The default returns `x` as it is; Flex copies strided views, whose element-wise
    /// operations take a slow generic path.
    fn make_contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        x
    }

    /// ReLU (the forward of [`relu`]). The default is burn's.
    fn relu_forward(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as ActivationOps<Self>>::relu(x)
    }

    /// ReLU's input gradient given its input `x`: `output_grad` where `x > 0`, else 0.
    /// The default is burn's (a comparison, then a masked fill); LibTorch overrides it
    /// with libtorch's one-pass `threshold_backward`.
    fn relu_grad(x: FloatTensor<Self>, output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as ActivationOps<Self>>::relu_backward(x, output_grad)
    }

    /// Batch normalisation with the batch's own statistics, per channel of
    /// `[batch, channels, height, width]`: `y = (x - mean) / sqrt(var + epsilon) * gamma +
    /// beta`, with the biased variance. Returns `[y, mean, var]` (`mean` and `var` are
    /// `[channels]`, for the running averages; they carry no gradient). The default is
    /// burn's element-wise operations; the CPU backends override it with one fused kernel.
    fn batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        batch_norm_ops::<Self>(x, gamma, beta, epsilon)
    }

    /// The gradients `[x, gamma, beta]` of [`NasBackend::batch_norm`], given the forward's
    /// input, scale, statistics and the output gradient, each computed only where `wants`
    /// asks for it:
    /// `d_beta = sum(g)`, `d_gamma = sum(g * x_hat)` and
    /// `d_x = gamma / sqrt(var + epsilon) * (g - d_beta / m - x_hat * d_gamma / m)`,
    /// sums over the `m = batch * height * width` values of each channel.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
        wants: [bool; 3],
    ) -> [Option<FloatTensor<Self>>; 3] {
        batch_norm_backward_ops::<Self>(x, gamma, mean, var, epsilon, output_grad, wants)
    }
}

/// The default weight gradient of [`NasBackend::depthwise_conv2d_weight_backward`], on any
/// backend: the input with its batch as the channels of each group (`[1, c * n, h, w]`),
/// convolved with groups = c by the output gradient as the kernel (`[c, n, h, w]`).
pub fn grouped_weight_backward<B: Backend>(
    x: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    kernel: [usize; 2],
) -> FloatTensor<B> {
    let [n, c, h, w] = x.shape().dims();
    let [_, _, gh, gw] = output_grad.shape().dims();
    let x = B::float_reshape(B::float_swap_dims(x, 0, 1), Shape::new([1, c * n, h, w]));
    let g = B::float_swap_dims(output_grad, 0, 1);
    let g = B::float_reshape(g, Shape::new([c, n, gh, gw]));
    let out = B::conv2d(x, g, None, depthwise_options(c, kernel));
    B::float_reshape(out, Shape::new([c, 1, kernel[0], kernel[1]]))
}

/// burn's `unfold4d`: the default of [`NasBackend::dense_columns`], on any backend.
pub fn unfold_columns<B: Backend>(
    x: FloatTensor<B>,
    kernel: [usize; 2],
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let unfold = UnfoldOptions::new(options.stride, options.padding, options.dilation);
    prim(unfold4d(float::<B, 4>(x), kernel, unfold))
}

/// The CPU backends' dense convolution: [`columns::conv2d`] through the host for kernels
/// other than 1x1 with stride and dilation 1, burn's `conv2d` otherwise.
fn host_dense_conv2d<B: CpuBackend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    options: ConvOptions<2>,
) -> FloatTensor<B> {
    let weight_dims: [usize; 4] = weight.shape().dims();
    let [co, _, kh, kw] = weight_dims;
    let [n, _, h, w] = x.shape().dims();
    let plane = columns::output_plane([h, w], [kh, kw], options.padding);
    let Some([ho, wo]) = plane.filter(|_| {
        options.stride == [1, 1]
            && options.dilation == [1, 1]
            && options.groups == 1
            && [kh, kw] != [1, 1]
    }) else {
        return B::conv2d(x, weight, None, options);
    };
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let (weight, _) = to_host::<B>(weight);
    let out = columns::conv2d(&x, dims, &weight, weight_dims, options.padding);
    from_host::<B>(out, [n, co, ho, wo], &device)
}

/// [`columns::columns`] on a backend's tensor, through the host.
fn host_columns<B: CpuBackend>(
    x: FloatTensor<B>,
    kernel: [usize; 2],
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let [_, _, h, w] = x.shape().dims();
    let plane = columns::output_plane([h, w], kernel, options.padding);
    let Some([ho, wo]) = plane.filter(|_| options.stride == [1, 1] && options.dilation == [1, 1])
    else {
        return unfold_columns::<B>(x, kernel, options);
    };
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let [n, c, _, _] = dims;
    let cols = columns::columns(&x, dims, kernel, options.padding);
    Tensor::<B, 3>::from_data(
        TensorData::new(cols, [n, c * kernel[0] * kernel[1], ho * wo]),
        &device,
    )
    .into_primitive()
    .tensor()
}

/// Per-channel values `[c]` as a column `[n * c, 1]` over rows `[n * c, h * w]` (a per-row
/// broadcast is several times faster on the CPU backends than a `[1, c, 1, 1]` one over a
/// 4-d tensor).
pub(crate) fn per_row<B: Backend>(v: Tensor<B, 1>, n: usize) -> Tensor<B, 2> {
    let [c] = v.dims();
    v.reshape([1, c, 1]).expand([n, c, 1]).reshape([n * c, 1])
}

/// The mean over batch and plane of rows `[n * c, h * w]`, per channel: `[c]`.
fn channel_mean<B: Backend>(rows: Tensor<B, 2>, n: usize, c: usize) -> Tensor<B, 1> {
    rows.mean_dim(1).reshape([n, c]).mean_dim(0).reshape([c])
}

fn float<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn prim<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// [`NasBackend::batch_norm`] in burn's element-wise operations, on any backend (on an
/// autodiff backend, burn differentiates it: the tests compare the fused kernels with it).
pub fn batch_norm_ops<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> [FloatTensor<B>; 3] {
    let x = float::<B, 4>(x);
    let [n, c, h, w] = x.dims();
    let rows = x.reshape([n * c, h * w]);
    let mean = channel_mean(rows.clone(), n, c);
    let centered = rows.sub(per_row(mean.clone(), n));
    let var = channel_mean(centered.clone().square(), n, c);
    let scale = var
        .clone()
        .add_scalar(epsilon)
        .sqrt()
        .recip()
        .mul(float::<B, 1>(gamma));
    let y = centered
        .mul(per_row(scale, n))
        .add(per_row(float::<B, 1>(beta), n));
    [prim(y.reshape([n, c, h, w])), prim(mean), prim(var)]
}

/// [`NasBackend::batch_norm_backward`] in burn's element-wise operations, on any backend.
pub fn batch_norm_backward_ops<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    epsilon: f64,
    output_grad: FloatTensor<B>,
    wants: [bool; 3],
) -> [Option<FloatTensor<B>>; 3] {
    let x = float::<B, 4>(x);
    let [n, c, h, w] = x.dims();
    let m = (n * h * w) as f64;
    let inv = float::<B, 1>(var).add_scalar(epsilon).sqrt().recip();
    let x_hat = x
        .reshape([n * c, h * w])
        .sub(per_row(float::<B, 1>(mean), n))
        .mul(per_row(inv.clone(), n));
    let g = float::<B, 4>(output_grad).reshape([n * c, h * w]);
    let sum_per_channel = |t: Tensor<B, 2>| t.sum_dim(1).reshape([n, c]).sum_dim(0).reshape([c]);
    let d_beta = sum_per_channel(g.clone());
    let d_gamma = sum_per_channel(g.clone().mul(x_hat.clone()));
    let d_x = wants[0].then(|| {
        let k = inv.mul(float::<B, 1>(gamma));
        let inner = g
            .sub(per_row(d_beta.clone().div_scalar(m), n))
            .sub(x_hat.mul(per_row(d_gamma.clone().div_scalar(m), n)));
        prim(inner.mul(per_row(k, n)).reshape([n, c, h, w]))
    });
    [
        d_x,
        wants[1].then(|| prim(d_gamma)),
        wants[2].then(|| prim(d_beta)),
    ]
}

/// Applies [`NasBackend::batch_norm`] to tensors: `(y, mean, var)`.
pub fn batch_norm<B: NasBackend>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    epsilon: f64,
) -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>) {
    let [y, mean, var] = B::batch_norm(prim(x), prim(gamma), prim(beta), epsilon);
    (float(y), float(mean), float(var))
}

/// A [`NasBackend`] that records gradients, whose inner backend is a [`NasBackend`] too
/// (so models can be moved to it for evaluation). Every such type implements it.
pub trait NasAutodiffBackend: NasBackend + AutodiffBackend<InnerBackend: NasBackend> {}

impl<B> NasAutodiffBackend for B where B: NasBackend + AutodiffBackend<InnerBackend: NasBackend> {}

fn depthwise_options(channels: usize, kernel: [usize; 2]) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [kernel[0] / 2, kernel[1] / 2], [1, 1], channels)
}

/// Applies [`NasBackend::dense_conv2d`] to tensors.
///
/// # Shapes
/// - `x`: `[batch, c_in, h, w]`; `weight`: `[c_out, c_in, k_h, k_w]`;
///   output: `[batch, c_out, h', w']` as `options` give
pub fn dense_conv2d<B: NasBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    let out = B::dense_conv2d(
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
        options,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// ReLU through [`NasBackend::relu_forward`] and [`NasBackend::relu_grad`]: the same
/// values as burn's `relu`, with the backward a backend chooses.
pub fn relu<B: NasBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let out = B::relu_forward(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// `x` through [`NasBackend::make_contiguous`]: the same values, and in training a
/// gradient stored contiguously. Put before a concatenation whose inputs are used
/// elsewhere too: the concatenation's gradient for each input is a strided view of its
/// own, and adding that to the input's other gradients is slow on Flex.
pub fn contiguous_grad<B: NasBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let out = B::make_contiguous(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Applies [`NasBackend::avg_pool3x3`] to tensors.
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output: as `x`
pub fn avg_pool3x3<B: NasBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let out = B::avg_pool3x3(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Applies [`NasBackend::max_pool3x3`] to tensors.
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output: as `x`
pub fn max_pool3x3<B: NasBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let out = B::max_pool3x3(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Applies [`NasBackend::depthwise_conv2d`] to tensors.
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; `weight`: `[channels, 1, k_h, k_w]`; output: as `x`
pub fn depthwise_conv2d<B: NasBackend>(x: Tensor<B, 4>, weight: Tensor<B, 4>) -> Tensor<B, 4> {
    let out = B::depthwise_conv2d(
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Registers an operation's gradients (a convolution's `[x, weight]`, batch
/// normalisation's `[x, gamma, beta]`) for the parents that track them.
fn register_all<B: NasBackend, const N: usize>(
    grads: &mut Gradients,
    parents: [Option<NodeId>; N],
    both: [Option<FloatTensor<B>>; N],
) {
    for (node, g) in parents.into_iter().zip(both) {
        if let (Some(node), Some(g)) = (node, g) {
            grads.register::<B>(node, g);
        }
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl<B: NasBackend> Backward<B, 2> for DepthwiseBackward {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        let wants = [node_x.is_some(), node_weight.is_some()];
        let both = B::depthwise_conv2d_backward(x, weight, grad, wants);
        register_all::<B, 2>(grads, [node_x, node_weight].map(|n| n.map(|n| n.id)), both);
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl<B: NasBackend> Backward<B, 3> for BatchNormBackward {
    /// The input's checkpoint, then the scale, the batch mean and variance, epsilon.
    type State = (NodeId, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma, mean, var, epsilon) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let nodes = [node_x, node_gamma, node_beta].map(|n| n.map(|n| n.id));
        let wants = nodes.map(|n| n.is_some());
        let all = B::batch_norm_backward(x, gamma, mean, var, epsilon, grad, wants);
        register_all::<B, 3>(grads, nodes, all);
    }
}

impl<B: NasBackend, C: CheckpointStrategy> NasBackend for Autodiff<B, C> {
    fn batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
        let (y, mean, var) = match BatchNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let scale = gamma.primitive.clone();
                let [y, mean, var] =
                    B::batch_norm(x.primitive, gamma.primitive, beta.primitive, epsilon);
                let state = (x_state, scale, mean.clone(), var.clone(), epsilon);
                (prep.finish(state, y), mean, var)
            }
            OpsKind::UnTracked(prep) => {
                let [y, mean, var] =
                    B::batch_norm(x.primitive, gamma.primitive, beta.primitive, epsilon);
                (prep.finish(y), mean, var)
            }
        };
        [y, Self::from_inner(mean), Self::from_inner(var)]
    }

    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        match DepthwiseBackward
            .prepare::<C>([x.node.clone(), weight.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out = B::depthwise_conv2d(x.primitive, weight.primitive);
                prep.finish((x_state, weight_state), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::depthwise_conv2d(x.primitive, weight.primitive))
            }
        }
    }

    fn make_contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        ContiguousBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateless(B::make_contiguous(x.primitive))
    }

    fn relu_forward(x: FloatTensor<Self>) -> FloatTensor<Self> {
        unary_with_input::<B, C>(x, B::relu_forward, B::relu_grad)
    }

    fn avg_pool3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        unary_with_input::<B, C>(x, B::avg_pool3x3, B::avg_pool3x3_backward)
    }

    fn max_pool3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let (out, indices) = B::max_pool3x3_with_indices(x.primitive);
                prep.finish((x_state, indices), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool3x3(x.primitive)),
        }
    }

    fn dense_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match DenseBackward
            .prepare::<C>([x.node.clone(), weight.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out = B::dense_conv2d(x.primitive, weight.primitive, options.clone());
                prep.finish((x_state, weight_state, options), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::dense_conv2d(x.primitive, weight.primitive, options))
            }
        }
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl<B: NasBackend> Backward<B, 1> for MaxPoolBackward {
    /// The input's checkpoint, and what the forward kept for the backward.
    type State = (NodeId, Option<IntTensor<B>>);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            let (x_state, indices) = ops.state;
            let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
            grads.register::<B>(node.id, B::max_pool3x3_backward(x, grad, indices));
        }
    }
}

#[derive(Debug)]
struct ContiguousBackward;

impl<B: NasBackend> Backward<B, 1> for ContiguousBackward {
    type State = ();

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::make_contiguous(grad));
        }
    }
}

/// `forward(x)` recorded with [`InputGradBackward`]: the input gradient is
/// `grad_of(x, output_grad)`.
fn unary_with_input<B: NasBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    grad_of: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match (InputGradBackward { grad_of })
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            prep.finish(x_state, forward(x.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive)),
    }
}

/// The backward of a one-input operation whose input gradient is a function of the input
/// and the output gradient (ReLU, average pooling).
#[derive(Debug)]
struct InputGradBackward<B: Backend> {
    grad_of: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
}

impl<B: NasBackend> Backward<B, 1> for InputGradBackward<B> {
    /// The input's checkpoint.
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
            grads.register::<B>(node.id, (self.grad_of)(x, grad));
        }
    }
}

#[derive(Debug)]
struct DenseBackward;

impl<B: NasBackend> Backward<B, 2> for DenseBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        let wants = [node_x.is_some(), node_weight.is_some()];
        let both = B::dense_conv2d_backward(x, weight, grad, options, wants);
        register_all::<B, 2>(grads, [node_x, node_weight].map(|n| n.map(|n| n.id)), both);
    }
}

/// The CPU backends: direct kernels for the depthwise forward (also the input gradient's
/// convolution; see [`depthwise`]) and weight gradient, 3x3 max and average pooling and
/// batch normalisation; dense convolutions with stride 1 as matrix products over directly
/// copied columns, per image ([`columns`]).
macro_rules! cpu_backend {
    ($ty:ty $(, $extra:item)*) => {
        impl NasBackend for $ty {
            $($extra)*

            fn depthwise_conv2d(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                host_depthwise::<Self>(x, weight)
            }

            fn depthwise_conv2d_weight_backward(
                x: FloatTensor<Self>,
                output_grad: FloatTensor<Self>,
                kernel: [usize; 2],
            ) -> FloatTensor<Self> {
                host_weight_backward::<Self>(x, output_grad, kernel)
            }

            fn dense_columns(
                x: FloatTensor<Self>,
                kernel: [usize; 2],
                options: &ConvOptions<2>,
            ) -> FloatTensor<Self> {
                host_columns::<Self>(x, kernel, options)
            }

            fn dense_conv2d(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                options: ConvOptions<2>,
            ) -> FloatTensor<Self> {
                host_dense_conv2d::<Self>(x, weight, options)
            }

            fn avg_pool3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
                host_avg_pool::<Self>(x)
            }

            fn avg_pool3x3_backward(
                x: FloatTensor<Self>,
                output_grad: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                host_avg_pool_backward::<Self>(x, output_grad)
            }

            fn max_pool3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
                host_max_pool::<Self>(x)
            }

            fn max_pool3x3_backward(
                x: FloatTensor<Self>,
                output_grad: FloatTensor<Self>,
                _indices: Option<IntTensor<Self>>,
            ) -> FloatTensor<Self> {
                host_max_pool_backward::<Self>(x, output_grad)
            }

            fn batch_norm(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                epsilon: f64,
            ) -> [FloatTensor<Self>; 3] {
                host_batch_norm::<Self>(x, gamma, beta, epsilon)
            }

            fn batch_norm_backward(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                mean: FloatTensor<Self>,
                var: FloatTensor<Self>,
                epsilon: f64,
                output_grad: FloatTensor<Self>,
                wants: [bool; 3],
            ) -> [Option<FloatTensor<Self>>; 3] {
                host_batch_norm_backward::<Self>(x, gamma, mean, var, epsilon, output_grad, wants)
            }
        }
    };
}

cpu_backend!(
    Flex,
    fn make_contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // A plain clone of the handle where `x` already is contiguous.
        x.to_contiguous()
    }
);
cpu_backend!(NdArray<f32>);

#[cfg(feature = "wgpu")]
impl NasBackend for burn::backend::Wgpu {}

#[cfg(feature = "cuda")]
impl NasBackend for burn::backend::Cuda {}

#[cfg(feature = "tch")]
pub mod libtorch;

pub mod columns;
pub mod depthwise;
pub use depthwise::depthwise_weight_grad;
/// What the kernels' unit tests share.
#[cfg(test)]
mod testing {
    /// The bit patterns of `v`, to compare results exactly (signed zeros included).
    pub fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    /// A small linear congruential generator from `seed`: 24-bit values.
    pub fn lcg(mut s: u32) -> impl FnMut() -> u32 {
        move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            s >> 8
        }
    }

    /// The plane shapes the pooling tests cover, single rows and columns included.
    pub const POOL_DIMS: [[usize; 4]; 5] = [
        [2, 3, 14, 14],
        [1, 2, 7, 7],
        [1, 1, 1, 1],
        [2, 1, 1, 5],
        [1, 2, 4, 1],
    ];
}

mod avg_pool;
pub use avg_pool::{avg_pool3x3_forward, avg_pool3x3_grad};
mod max_pool;
pub use max_pool::{max_pool3x3_forward, max_pool3x3_grad};

/// A float tensor's values on the host, `[f32]` in row-major order: Flex's own storage
/// where the tensor is contiguous (no copy, even when autodiff holds the tensor too), a
/// copy otherwise.
enum HostData {
    Owned(Vec<f32>),
    Flex(burn_flex::FlexTensor),
}

impl std::ops::Deref for HostData {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match self {
            HostData::Owned(v) => v,
            HostData::Flex(t) => t
                .as_slice::<f32>()
                .expect("HostData::Flex holds contiguous f32 data"),
        }
    }
}

/// The CPU backends, whose tensors live in host memory: how [`HostData`] reads one.
trait CpuBackend: Backend {
    /// The values of `t` on the host.
    fn host(t: FloatTensor<Self>) -> HostData {
        host_copy::<Self>(t)
    }
}

impl CpuBackend for NdArray<f32> {}

impl CpuBackend for Flex {
    fn host(t: FloatTensor<Self>) -> HostData {
        if t.dtype() != burn::tensor::DType::F32 {
            return host_copy::<Self>(t);
        }
        let t = if t.as_slice::<f32>().is_some() {
            t
        } else {
            t.to_contiguous()
        };
        debug_assert!(t.as_slice::<f32>().is_some(), "to_contiguous is contiguous");
        HostData::Flex(t)
    }
}

/// The values of `t`, copied through burn's `into_data` (which reuses the buffer of a
/// tensor nothing else holds).
fn host_copy<B: Backend>(t: FloatTensor<B>) -> HostData {
    let n = t.shape().num_elements();
    let flat = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(B::float_reshape(
        t,
        Shape::new([n]),
    )));
    HostData::Owned(
        flat.into_data()
            .convert::<f32>()
            .into_vec()
            .expect("f32 data"),
    )
}

fn to_host<B: CpuBackend>(t: FloatTensor<B>) -> (HostData, [usize; 4]) {
    let dims = t.shape().dims();
    (B::host(t), dims)
}

fn from_host<B: Backend>(v: Vec<f32>, dims: [usize; 4], device: &B::Device) -> FloatTensor<B> {
    Tensor::<B, 4>::from_data(TensorData::new(v, dims), device)
        .into_primitive()
        .tensor()
}

fn host_avg_pool<B: CpuBackend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    from_host::<B>(avg_pool3x3_forward(&x, dims), dims, &device)
}

fn host_avg_pool_backward<B: CpuBackend>(
    x: FloatTensor<B>,
    output_grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let dims = x.shape().dims();
    let (g, _) = to_host::<B>(output_grad);
    from_host::<B>(avg_pool3x3_grad(&g, dims), dims, &device)
}

fn host_max_pool<B: CpuBackend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    from_host::<B>(max_pool3x3_forward(&x, dims), dims, &device)
}

fn host_max_pool_backward<B: CpuBackend>(
    x: FloatTensor<B>,
    output_grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let (g, _) = to_host::<B>(output_grad);
    from_host::<B>(max_pool3x3_grad(&x, &g, dims), dims, &device)
}

fn host_depthwise<B: CpuBackend>(x: FloatTensor<B>, weight: FloatTensor<B>) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let (weight, [_, _, kh, kw]) = to_host::<B>(weight);
    from_host::<B>(
        depthwise::depthwise_forward(&x, &weight, dims, [kh, kw]),
        dims,
        &device,
    )
}

fn host_weight_backward<B: CpuBackend>(
    x: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    kernel: [usize; 2],
) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let (g, _) = to_host::<B>(output_grad);
    let grad = depthwise::depthwise_weight_grad(&x, &g, dims, kernel);
    let [_, c, _, _] = dims;
    from_host::<B>(grad, [c, 1, kernel[0], kernel[1]], &device)
}

fn host_vec<B: CpuBackend>(t: FloatTensor<B>) -> HostData {
    B::host(t)
}

fn host_channels<B: Backend>(v: Vec<f32>, device: &B::Device) -> FloatTensor<B> {
    let c = v.len();
    Tensor::<B, 1>::from_data(TensorData::new(v, [c]), device)
        .into_primitive()
        .tensor()
}

fn host_batch_norm<B: CpuBackend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> [FloatTensor<B>; 3] {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let (gamma, beta) = (host_vec::<B>(gamma), host_vec::<B>(beta));
    let (y, mean, var) = batch_norm_forward(&x, &gamma, &beta, epsilon, dims);
    [
        from_host::<B>(y, dims, &device),
        host_channels::<B>(mean, &device),
        host_channels::<B>(var, &device),
    ]
}

fn host_batch_norm_backward<B: CpuBackend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    epsilon: f64,
    output_grad: FloatTensor<B>,
    wants: [bool; 3],
) -> [Option<FloatTensor<B>>; 3] {
    let device = B::float_device(&x);
    let (x, dims) = to_host::<B>(x);
    let (g, _) = to_host::<B>(output_grad);
    let stats = [gamma, mean, var].map(|t| host_vec::<B>(t).to_vec());
    let (dx, d_gamma, d_beta) = batch_norm_grad(&x, &g, &stats, epsilon, dims, wants[0]);
    [
        dx.map(|dx| from_host::<B>(dx, dims, &device)),
        wants[1].then(|| host_channels::<B>(d_gamma, &device)),
        wants[2].then(|| host_channels::<B>(d_beta, &device)),
    ]
}

/// The rows `[h * w]` of channel `ch` of `[n, c, h, w]` data, in batch order.
fn channel_rows(data: &[f32], ch: usize, c: usize, plane: usize) -> impl Iterator<Item = &[f32]> {
    data.chunks_exact(plane).skip(ch).step_by(c)
}

/// `sum of (a - shift) * (b - shift_b)` over a row, in eight independent partial sums.
fn centered_dot(a: &[f32], shift: f32, b: &[f32], shift_b: f32) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += (xa[k] - shift) * (xb[k] - shift_b);
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (p, q) in ra.iter().zip(rb) {
        sum += (p - shift) * (q - shift_b);
    }
    sum
}

/// A row's sum, in eight independent partial sums.
fn row_sum(a: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let ca = a.chunks_exact(8);
    let rest: f32 = ca.remainder().iter().sum();
    for xa in ca {
        for k in 0..8 {
            lanes[k] += xa[k];
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// Batch normalisation of `[n, c, h, w]` data with the batch's statistics (the fused CPU
/// kernel of [`NasBackend::batch_norm`]): `(y, mean, var)`, the variance biased. Channel
/// statistics run in parallel over channels, each row summed in `f32` and rows added in
/// `f64` in batch order, so the result does not depend on the number of threads; the
/// output runs in parallel over rows.
pub fn batch_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    [n, c, h, w]: [usize; 4],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let plane = h * w;
    let m = (n * plane) as f64;
    let (mean, var): (Vec<f32>, Vec<f32>) = (0..c)
        .into_par_iter()
        .map(|ch| {
            let s: f64 = channel_rows(x, ch, c, plane)
                .map(|r| row_sum(r) as f64)
                .sum();
            let mean = (s / m) as f32;
            let q: f64 = channel_rows(x, ch, c, plane)
                .map(|r| centered_dot(r, mean, r, mean) as f64)
                .sum();
            (mean, (q / m) as f32)
        })
        .unzip();
    let scale: Vec<f32> = (0..c)
        .map(|ch| gamma[ch] / (var[ch] as f64 + epsilon).sqrt() as f32)
        .collect();
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .with_min_len(8)
        .enumerate()
        .for_each(|(row, (out, inp))| {
            let ch = row % c;
            let (mu, k, b) = (mean[ch], scale[ch], beta[ch]);
            for (o, v) in out.iter_mut().zip(inp) {
                *o = (v - mu) * k + b;
            }
        });
    (y, mean, var)
}

/// The gradients of [`batch_norm_forward`] (the fused CPU kernel of
/// [`NasBackend::batch_norm_backward`]): `(d_x, d_gamma, d_beta)` from the input, the
/// output gradient and `[gamma, mean, var]`; `d_x` only when `want_x`.
pub fn batch_norm_grad(
    x: &[f32],
    g: &[f32],
    [gamma, mean, var]: &[Vec<f32>; 3],
    epsilon: f64,
    [n, c, h, w]: [usize; 4],
    want_x: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let plane = h * w;
    let m = (n * plane) as f64;
    let inv: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    // Per channel: sum(g) = d_beta and sum(g * (x - mean)) * inv = d_gamma.
    let (d_beta, d_gamma): (Vec<f32>, Vec<f32>) = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut sg = 0f64;
            let mut sgx = 0f64;
            for (xr, gr) in channel_rows(x, ch, c, plane).zip(channel_rows(g, ch, c, plane)) {
                sg += row_sum(gr) as f64;
                sgx += centered_dot(gr, 0.0, xr, mean[ch]) as f64;
            }
            (sg as f32, (sgx * inv[ch] as f64) as f32)
        })
        .unzip();
    let dx = want_x.then(|| {
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(plane)
            .zip(x.par_chunks(plane).zip(g.par_chunks(plane)))
            .with_min_len(8)
            .enumerate()
            .for_each(|(row, (out, (xr, gr)))| {
                let ch = row % c;
                let k = gamma[ch] * inv[ch];
                let a = (d_beta[ch] as f64 / m) as f32;
                let b = (d_gamma[ch] as f64 / m) as f32 * inv[ch];
                let mu = mean[ch];
                for ((o, &xv), &gv) in out.iter_mut().zip(xr).zip(gr) {
                    *o = k * (gv - a - (xv - mu) * b);
                }
            });
        dx
    });
    (dx, d_gamma, d_beta)
}
