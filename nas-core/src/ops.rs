//! The candidate operations of a choice block and the fixed parts of a cell, as burn modules.
//!
//! The supernet and the stand-alone models are built from these same modules (one copy
//! of the op code), so weights can be copied from one to the other.

use crate::backend::{
    NasBackend, avg_pool3x3, batch_norm, dense_conv2d, depthwise_conv2d, max_pool3x3, per_row, relu,
};
use burn::config::Config;
use burn::module::{Module, Param, RunningState};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, s};
use serde::{Deserialize, Serialize};

use crate::space::OpKind;

/// How a normalisation layer gets its statistics in one forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormMode {
    /// Statistics of the current (ghost) batch; running averages are left alone.
    /// The supernet always runs this way, in training and in evaluation.
    Batch,
    /// Statistics of the current batch, and the running averages are updated
    /// (stand-alone training).
    BatchUpdateRunning,
    /// Running averages (stand-alone evaluation, the default there).
    Running,
}

/// Settings shared by every layer of a network.
#[derive(Config, Debug, PartialEq)]
pub struct LayerConfig {
    /// Learnable scale and shift in the normalisation layers.
    #[config(default = true)]
    pub learnable_norm: bool,
    /// Added to the variance for numerical stability.
    #[config(default = 1e-5)]
    pub norm_epsilon: f64,
    /// Weight of the newest batch in the running averages (stand-alone models only); the
    /// first `1 / norm_momentum` updates use a plain cumulative average instead.
    #[config(default = 0.1)]
    pub norm_momentum: f64,
}

/// Batch normalisation whose statistics source is chosen per call (see [`NormMode`]).
///
/// burn's `BatchNorm` picks batch or running statistics from the backend (autodiff or
/// not); the supernet needs batch statistics in evaluation too, hence this module.
#[derive(Module, Debug)]
pub struct Norm<B: NasBackend> {
    /// Scale, when learnable.
    pub gamma: Option<Param<Tensor<B, 1>>>,
    /// Shift, when learnable.
    pub beta: Option<Param<Tensor<B, 1>>>,
    /// Running mean (used by [`NormMode::Running`]).
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running variance (used by [`NormMode::Running`]).
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Number of updates of the running averages so far, `[1]`.
    pub running_updates: RunningState<Tensor<B, 1>>,
    /// Momentum of the running averages.
    pub momentum: f64,
    /// Numerical-stability constant.
    pub epsilon: f64,
}

impl<B: NasBackend> Norm<B> {
    /// A normalisation layer over `channels` channels.
    pub fn new(channels: usize, cfg: &LayerConfig, device: &B::Device) -> Self {
        let (gamma, beta) = if cfg.learnable_norm {
            (
                Some(Param::from_tensor(Tensor::ones([channels], device))),
                Some(Param::from_tensor(Tensor::zeros([channels], device))),
            )
        } else {
            (None, None)
        };
        Norm {
            gamma,
            beta,
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            running_updates: RunningState::new(Tensor::zeros([1], device)),
            momentum: cfg.norm_momentum,
            epsilon: cfg.norm_epsilon,
        }
    }

    /// Normalises per channel.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`
    /// - output: same as `x`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        if mode != NormMode::Running {
            // One fused operation with its own backward pass (see `NasBackend::batch_norm`).
            let device = x.device();
            let gamma = self
                .gamma
                .as_ref()
                .map_or_else(|| Tensor::ones([c], &device), |g| g.val());
            let beta = self
                .beta
                .as_ref()
                .map_or_else(|| Tensor::zeros([c], &device), |b| b.val());
            let (y, mean, var) = batch_norm(x, gamma, beta, self.epsilon);
            if mode == NormMode::BatchUpdateRunning {
                self.update_running(mean, var, n * h * w);
            }
            return y;
        }
        // Running statistics, on rows of `[n * c, h * w]` (see `backend::per_row`).
        let rows = x.reshape([n * c, h * w]);
        let per_row = |v: Tensor<B, 1>| per_row(v, n);
        let centered = rows.sub(per_row(self.running_mean.value()));
        let mut scale = self
            .running_var
            .value()
            .add_scalar(self.epsilon)
            .sqrt()
            .recip();
        if let Some(g) = &self.gamma {
            scale = scale.mul(g.val());
        }
        let mut y = centered.mul(per_row(scale));
        if let Some(b) = &self.beta {
            y = y.add(per_row(b.val()));
        }
        y.reshape([n, c, h, w])
    }

    /// Updates the running averages with weight `max(momentum, 1 / t)` at the `t`-th
    /// update: a plain cumulative average at first, an exponential one afterwards, so
    /// short runs are not biased towards the initial values (mean 0, variance 1).
    fn update_running(&self, mean: Tensor<B, 1>, var: Tensor<B, 1>, count: usize) {
        let t = self.running_updates.value_sync().add_scalar(1.0);
        self.running_updates.update(t.clone());
        let w = t.recip().clamp_min(self.momentum);
        let keep = w.clone().neg().add_scalar(1.0);
        let rm = self.running_mean.value_sync().mul(keep.clone());
        let rv = self.running_var.value_sync().mul(keep);
        self.running_mean
            .update(rm.add(mean.detach().mul(w.clone())));
        // Unbiased variance for the running estimate, as PyTorch does.
        let unbias = if count > 1 {
            count as f64 / (count - 1) as f64
        } else {
            1.0
        };
        self.running_var
            .update(rv.add(var.detach().mul_scalar(unbias).mul(w)));
    }
}

/// Runs a convolution module through the backend's own dense convolution
/// ([`dense_conv2d`], whose backward pass is cheaper than burn's generic one). Modules this
/// crate does not build that way (bias, groups, asymmetric padding) run burn's forward.
///
/// # Shapes
/// - `x`: `[batch, c_in, h, w]`; output: `[batch, c_out, h', w']`
pub fn dense<B: NasBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == bottom && left == right && conv.groups == 1 && conv.bias.is_none() =>
        {
            let options = ConvOptions::new(conv.stride, [top, left], conv.dilation, 1);
            dense_conv2d(x, conv.weight.val(), options)
        }
        _ => conv.forward(x),
    }
}

fn conv(
    c_in: usize,
    c_out: usize,
    kernel: [usize; 2],
    stride: usize,
    groups: usize,
) -> Conv2dConfig {
    Conv2dConfig::new([c_in, c_out], kernel)
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(
            kernel[0] / 2,
            kernel[1] / 2,
            kernel[0] / 2,
            kernel[1] / 2,
        ))
        .with_bias(false)
}

/// ReLU, convolution, normalisation.
#[derive(Module, Debug)]
pub struct ReluConvNorm<B: NasBackend> {
    /// The convolution (no bias).
    pub conv: Conv2d<B>,
    /// The normalisation after it.
    pub norm: Norm<B>,
}

impl<B: NasBackend> ReluConvNorm<B> {
    /// A ReLU-Conv-BN unit with a square `kernel` and `stride`.
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        cfg: &LayerConfig,
        device: &B::Device,
    ) -> Self {
        ReluConvNorm {
            conv: conv(c_in, c_out, [kernel, kernel], stride, 1).init(device),
            norm: Norm::new(c_out, cfg, device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c_in, h, w]`; output: `[batch, c_out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        self.norm.forward(dense(&self.conv, relu(x)), mode)
    }
}

/// Depthwise convolution (one filter per channel) followed by a pointwise 1x1 convolution.
///
/// Every separable convolution of the project goes through [`separable`], so its
/// formulation can be swapped (e.g. for shifted multiply-adds) in one place.
#[derive(Module, Debug)]
pub struct Separable<B: NasBackend> {
    /// Depthwise `k x k` convolution, `groups = channels`.
    pub depthwise: Conv2d<B>,
    /// Pointwise 1x1 convolution.
    pub pointwise: Conv2d<B>,
}

impl<B: NasBackend> Separable<B> {
    fn new(c: usize, k: usize, device: &B::Device) -> Self {
        Separable {
            depthwise: conv(c, c, [k, k], 1, c).init(device),
            pointwise: conv(c, c, [1, 1], 1, 1).init(device),
        }
    }
}

/// Applies a separable convolution: depthwise then pointwise.
///
/// # Shapes
/// - `x`: `[batch, c, h, w]`; output: `[batch, c, h, w]`
pub fn separable<B: NasBackend>(sep: &Separable<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    // The depthwise convolution runs through the backend's own operation (with its own
    // backward pass); `sep.depthwise` only holds the weight.
    let x = depthwise_conv2d(x, sep.depthwise.weight.val());
    dense(&sep.pointwise, x)
}

/// A pair of ReLU-SepConv-BN units (the `sepK` operations).
#[derive(Module, Debug)]
pub struct SepConvPair<B: NasBackend> {
    /// First separable convolution.
    pub sep1: Separable<B>,
    /// Normalisation after the first.
    pub norm1: Norm<B>,
    /// Second separable convolution.
    pub sep2: Separable<B>,
    /// Normalisation after the second.
    pub norm2: Norm<B>,
}

impl<B: NasBackend> SepConvPair<B> {
    fn new(c: usize, k: usize, cfg: &LayerConfig, device: &B::Device) -> Self {
        SepConvPair {
            sep1: Separable::new(c, k, device),
            norm1: Norm::new(c, cfg, device),
            sep2: Separable::new(c, k, device),
            norm2: Norm::new(c, cfg, device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let x = self.norm1.forward(separable(&self.sep1, relu(x)), mode);
        self.norm2.forward(separable(&self.sep2, relu(x)), mode)
    }
}

/// ReLU, a 1x7 convolution, a 7x1 convolution, normalisation (the `c17` operation).
#[derive(Module, Debug)]
pub struct Conv1x7x1<B: NasBackend> {
    /// The 1x7 convolution.
    pub conv_1x7: Conv2d<B>,
    /// The 7x1 convolution.
    pub conv_7x1: Conv2d<B>,
    /// Normalisation.
    pub norm: Norm<B>,
}

impl<B: NasBackend> Conv1x7x1<B> {
    fn new(c: usize, cfg: &LayerConfig, device: &B::Device) -> Self {
        Conv1x7x1 {
            conv_1x7: conv(c, c, [1, 7], 1, 1).init(device),
            conv_7x1: conv(c, c, [7, 1], 1, 1).init(device),
            norm: Norm::new(c, cfg, device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        self.norm
            .forward(dense(&self.conv_7x1, dense(&self.conv_1x7, relu(x))), mode)
    }
}

/// The identity operation (no parameters).
#[derive(Module, Debug, Clone, Default)]
pub struct Identity;

/// One candidate operation of a choice block.
// A supernet holds a few hundred of these; boxing the large variants would save little
// memory and burn's `Module` derive does not see through `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Op<B: NasBackend> {
    /// `id`.
    Identity(Identity),
    /// `sep3`, `sep5`, `sep7`.
    SepConv(SepConvPair<B>),
    /// `c17`.
    Conv1x7x1(Conv1x7x1<B>),
    /// `max3`.
    MaxPool(MaxPool2d),
    /// `avg3` (padding not counted in the average).
    AvgPool(AvgPool2d),
}

impl<B: NasBackend> Op<B> {
    /// The module for `kind` on `channels` channels (stride 1, shape-preserving).
    pub fn new(kind: OpKind, channels: usize, cfg: &LayerConfig, device: &B::Device) -> Self {
        let pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
        match kind {
            OpKind::Identity => Op::Identity(Identity),
            OpKind::SepConv3 => Op::SepConv(SepConvPair::new(channels, 3, cfg, device)),
            OpKind::SepConv5 => Op::SepConv(SepConvPair::new(channels, 5, cfg, device)),
            OpKind::SepConv7 => Op::SepConv(SepConvPair::new(channels, 7, cfg, device)),
            OpKind::Conv1x7x1 => Op::Conv1x7x1(Conv1x7x1::new(channels, cfg, device)),
            OpKind::MaxPool3 => Op::MaxPool(
                MaxPool2dConfig::new([3, 3])
                    .with_strides([1, 1])
                    .with_padding(pad)
                    .init(),
            ),
            OpKind::AvgPool3 => Op::AvgPool(
                AvgPool2dConfig::new([3, 3])
                    .with_strides([1, 1])
                    .with_padding(pad)
                    .with_count_include_pad(false)
                    .init(),
            ),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c, h, w]`; output: `[batch, c, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        match self {
            Op::Identity(_) => x,
            Op::SepConv(m) => m.forward(x, mode),
            Op::Conv1x7x1(m) => m.forward(x, mode),
            // The module only records the settings; the backend op has its own backward pass.
            Op::MaxPool(_) => max_pool3x3(x),
            Op::AvgPool(_) => avg_pool3x3(x),
        }
    }
}

/// Halves the resolution with two stride-2 1x1 convolutions, the second on the input
/// shifted by one pixel, concatenated (as in DARTS), then normalises.
#[derive(Module, Debug)]
pub struct FactorizedReduce<B: NasBackend> {
    /// Stride-2 1x1 convolution on the input.
    pub conv_a: Conv2d<B>,
    /// Stride-2 1x1 convolution on the input shifted by one pixel.
    pub conv_b: Conv2d<B>,
    /// Normalisation of the concatenation.
    pub norm: Norm<B>,
}

impl<B: NasBackend> FactorizedReduce<B> {
    /// Reduces `c_in` channels at resolution `h x w` to `c_out` at `ceil(h/2) x ceil(w/2)`.
    pub fn new(c_in: usize, c_out: usize, cfg: &LayerConfig, device: &B::Device) -> Self {
        let a = c_out / 2;
        FactorizedReduce {
            conv_a: conv(c_in, a, [1, 1], 2, 1).init(device),
            conv_b: conv(c_in, c_out - a, [1, 1], 2, 1).init(device),
            norm: Norm::new(c_out, cfg, device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c_in, h, w]`; output: `[batch, c_out, ceil(h/2), ceil(w/2)]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let x = relu(x);
        let [_, _, h, w] = x.dims();
        let shifted = x
            .clone()
            .slice(s![.., .., 1..h, 1..w])
            .pad((0, 1, 0, 1), PadMode::Constant(0.0));
        let y = Tensor::cat(
            vec![dense(&self.conv_a, x), dense(&self.conv_b, shifted)],
            1,
        );
        self.norm.forward(y, mode)
    }
}

/// Brings a cell input to the cell's width (and resolution).
#[allow(clippy::large_enum_variant)] // as for `Op`
#[derive(Module, Debug)]
pub enum Preprocess<B: NasBackend> {
    /// Same resolution: a 1x1 ReLU-Conv-BN.
    Project(ReluConvNorm<B>),
    /// Twice the resolution: a factorized reduction.
    Reduce(FactorizedReduce<B>),
}

impl<B: NasBackend> Preprocess<B> {
    /// # Shapes
    /// - `x`: `[batch, c_in, h, w]`; output: `[batch, c_out, h', w']`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        match self {
            Preprocess::Project(m) => m.forward(x, mode),
            Preprocess::Reduce(m) => m.forward(x, mode),
        }
    }
}
