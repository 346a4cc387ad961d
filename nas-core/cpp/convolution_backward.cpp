// The one libtorch operation the LibTorch backend needs that tch 0.22 does not bind:
// `at::convolution_backward`, both gradients of a convolution in one call (oneDNN on the
// CPU, cuDNN on a GPU), the kernel PyTorch's own autograd calls. Built by nas-core's
// build.rs with the `tch` feature; called from src/backend/libtorch.rs.
//
// Tensors cross as `at::Tensor*`, the representation tch's `C_tensor` pointers have
// (torch-sys: `typedef torch::Tensor *tensor`). Results are new heap tensors that tch takes
// ownership of; errors come back as a malloc'ed message, never as a C++ exception.

#include <ATen/core/Tensor.h>
#include <ATen/ops/convolution_backward.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>

extern "C" {

// Writes the gradients with respect to `x` and `weight` of
// `conv2d(x, weight, stride, padding, dilation, groups)` (no bias) given the output's
// gradient to `*dx` and `*dw`, each only when asked for (`want_x`, `want_w`); the other is
// set to null. Returns null on success, or an error message to free with `nas_free_error`.
char* nas_convolution_backward(const at::Tensor* grad, const at::Tensor* x,
                               const at::Tensor* weight, const int64_t* stride,
                               const int64_t* padding, const int64_t* dilation, int64_t groups,
                               int want_x, int want_w, at::Tensor** dx, at::Tensor** dw) {
    *dx = nullptr;
    *dw = nullptr;
    try {
        const std::array<int64_t, 2> no_output_padding{0, 0};
        auto grads = at::convolution_backward(
            *grad, *x, *weight, ::std::nullopt, at::IntArrayRef(stride, 2),
            at::IntArrayRef(padding, 2), at::IntArrayRef(dilation, 2), /*transposed=*/false,
            at::IntArrayRef(no_output_padding), groups,
            std::array<bool, 3>{want_x != 0, want_w != 0, false});
        if (want_x) *dx = new at::Tensor(std::move(std::get<0>(grads)));
        if (want_w) *dw = new at::Tensor(std::move(std::get<1>(grads)));
        return nullptr;
    } catch (const std::exception& e) {
        delete *dx;
        *dx = nullptr;
        return strdup(e.what());
    } catch (...) {
        delete *dx;
        *dx = nullptr;
        return strdup("unknown C++ exception in at::convolution_backward");
    }
}

// Frees a message returned by `nas_convolution_backward`.
void nas_free_error(char* message) { std::free(message); }

}  // extern "C"
