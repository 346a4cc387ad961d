//! The network operations on burn's LibTorch backend (feature `tch`).
//!
//! burn's LibTorch backend runs every forward operation as one libtorch call, but leaves the
//! convolutions' backward passes to burn's generic code, which is where a training step
//! spends most of its time. Here both gradients of a convolution come from libtorch's own
//! convolution backward (oneDNN on the CPU, cuDNN on a GPU), in one call: the forward is
//! replayed on detached leaves under libtorch's autograd and differentiated against the
//! output gradient. The replayed forward costs one more convolution; the backward kernels it
//! reaches are the ones PyTorch trains with.
//!
//! Everything else (the depthwise and dense forward, 3x3 max pooling and its backward) is
//! already one libtorch call each through burn's LibTorch backend.

use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{ConvOptions, FloatTensor};

use super::NasBackend;

impl NasBackend for LibTorch<f32> {
    fn depthwise_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        wants: [bool; 2],
    ) -> [Option<FloatTensor<Self>>; 2] {
        let [c, _, kh, kw] = weight.shape().dims();
        let options = ConvOptions::new([1, 1], [kh / 2, kw / 2], [1, 1], c);
        conv2d_backward(x, weight, output_grad, &options, wants)
    }

    fn dense_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        wants: [bool; 2],
    ) -> [Option<FloatTensor<Self>>; 2] {
        conv2d_backward(x, weight, output_grad, &options, wants)
    }
}

/// The gradients `[x, weight]` of `conv2d(x, weight)` (no bias) given the output's
/// gradient: libtorch's autograd over the replayed forward, asked only for what `wants`
/// names.
fn conv2d_backward(
    x: TchTensor,
    weight: TchTensor,
    output_grad: TchTensor,
    options: &ConvOptions<2>,
    wants: [bool; 2],
) -> [Option<TchTensor>; 2] {
    if wants == [false, false] {
        return [None, None];
    }
    let i64s = |a: [usize; 2]| a.map(|v| v as i64);
    let grads = tch::with_grad(|| {
        let xr = x.tensor.detach().set_requires_grad(wants[0]);
        let wr = weight.tensor.detach().set_requires_grad(wants[1]);
        let y = xr.conv2d(
            &wr,
            None::<tch::Tensor>,
            i64s(options.stride),
            i64s(options.padding),
            i64s(options.dilation),
            options.groups as i64,
        );
        // d(sum(y * g))/d(x, w) is the convolution's backward applied to g.
        let objective = (y * &output_grad.tensor).sum(None::<tch::Kind>);
        let inputs: Vec<&tch::Tensor> = [(&xr, wants[0]), (&wr, wants[1])]
            .into_iter()
            .filter_map(|(t, w)| w.then_some(t))
            .collect();
        tch::Tensor::run_backward(&[objective], &inputs, false, false)
    });
    let mut grads = grads.into_iter().map(TchTensor::new);
    let dx = if wants[0] { grads.next() } else { None };
    let dw = if wants[1] { grads.next() } else { None };
    [dx, dw]
}

/// Sets libtorch's intra-op threads (process-wide), as `RAYON_NUM_THREADS` does for the CPU
/// backends.
pub fn set_threads(threads: usize) {
    tch::set_num_threads(threads.max(1) as i32);
}

/// Whether libtorch sees CUDA, and how many devices.
pub fn cuda_devices() -> usize {
    if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    }
}
