//! The network operations on burn's LibTorch backend (feature `tch`).
//!
//! burn's LibTorch backend runs every forward operation as one libtorch call, but leaves the
//! convolutions' backward passes to burn's generic code, which is where a training step
//! spends most of its time. Here both gradients of a convolution come from libtorch's own
//! `convolution_backward` (oneDNN on the CPU, cuDNN on a GPU) in one call, the kernel
//! PyTorch's autograd calls. tch 0.22 does not bind it, so `cpp/convolution_backward.cpp`
//! (compiled by build.rs against the same libtorch) does.
//!
//! 3x3 max pooling keeps libtorch's indices of the maxima from the forward for its
//! backward, and ReLU's backward is libtorch's one-pass `threshold_backward`. Everything
//! else (the depthwise and dense forward, the pooling's forward and backward) is already
//! one libtorch call each through burn's LibTorch backend.

use burn::backend::LibTorch;
use burn::backend::libtorch::TchTensor;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{ConvOptions, FloatTensor, IntTensor, ModuleOps};

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

    /// libtorch's pooling with indices, so that the backward pass does not find the maxima
    /// again.
    fn max_pool3x3_with_indices(
        x: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, Option<IntTensor<Self>>) {
        let pooled = Self::max_pool2d_with_indices(x, [3, 3], [1, 1], [1, 1], [1, 1], false);
        (pooled.output, Some(pooled.indices))
    }

    /// libtorch's `threshold_backward`: one pass, where burn's default makes a mask and
    /// then fills.
    fn relu_grad(x: FloatTensor<Self>, output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        // tch's receiver is the forward's input, the argument the output gradient.
        TchTensor::new(x.tensor.threshold_backward(&output_grad.tensor, 0.0))
    }
}

/// The gradients `[x, weight]` of `conv2d(x, weight)` (no bias) given the output's
/// gradient, from libtorch's `convolution_backward`, asked only for what `wants` names.
///
/// # Panics
/// When libtorch reports an error (as burn's LibTorch backend does for its own operations).
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
    let [dx, dw] = ffi::convolution_backward(
        &output_grad.tensor,
        &x.tensor,
        &weight.tensor,
        i64s(options.stride),
        i64s(options.padding),
        i64s(options.dilation),
        options.groups as i64,
        wants,
    )
    .unwrap_or_else(|e| panic!("libtorch's convolution backward failed: {e}"));
    [dx.map(TchTensor::new), dw.map(TchTensor::new)]
}

/// The call into `cpp/convolution_backward.cpp`.
#[allow(unsafe_code)]
mod ffi {
    use std::ffi::{CStr, c_char, c_int};
    use torch_sys::C_tensor;

    unsafe extern "C" {
        fn nas_convolution_backward(
            grad: *const C_tensor,
            x: *const C_tensor,
            weight: *const C_tensor,
            stride: *const i64,
            padding: *const i64,
            dilation: *const i64,
            groups: i64,
            want_x: c_int,
            want_w: c_int,
            dx: *mut *mut C_tensor,
            dw: *mut *mut C_tensor,
        ) -> *mut c_char;
        fn nas_free_error(message: *mut c_char);
    }

    /// `at::convolution_backward` for a 2-d convolution without bias: the gradients with
    /// respect to the input and the weight, each only where `wants` asks for it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn convolution_backward(
        grad: &tch::Tensor,
        x: &tch::Tensor,
        weight: &tch::Tensor,
        stride: [i64; 2],
        padding: [i64; 2],
        dilation: [i64; 2],
        groups: i64,
        wants: [bool; 2],
    ) -> Result<[Option<tch::Tensor>; 2], String> {
        let mut dx: *mut C_tensor = std::ptr::null_mut();
        let mut dw: *mut C_tensor = std::ptr::null_mut();
        // SAFETY: the three tensor pointers come from live `tch::Tensor`s borrowed for the
        // call (tch's `C_tensor` is libtorch's `at::Tensor`, which the C++ side reads
        // through const pointers); the three arrays hold 2 values each, as the C++ side
        // reads. On success the C++ side writes a new heap tensor to each pointer asked for
        // (null otherwise), which `Tensor::from_ptr` takes ownership of, and returns null;
        // on failure it writes nulls and returns a malloc'ed message, freed here.
        unsafe {
            let err = nas_convolution_backward(
                grad.as_ptr(),
                x.as_ptr(),
                weight.as_ptr(),
                stride.as_ptr(),
                padding.as_ptr(),
                dilation.as_ptr(),
                groups,
                c_int::from(wants[0]),
                c_int::from(wants[1]),
                &mut dx,
                &mut dw,
            );
            if !err.is_null() {
                let message = CStr::from_ptr(err).to_string_lossy().into_owned();
                nas_free_error(err);
                return Err(message);
            }
            let take = |p: *mut C_tensor| (!p.is_null()).then(|| tch::Tensor::from_ptr(p));
            Ok([take(dx), take(dw)])
        }
    }
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
