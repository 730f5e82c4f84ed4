// Two LibTorch backward passes that tch's generated bindings leave out, for the `libtorch`
// build (ml/libtorch.rs records them as autodiff steps):
//
// - the convolution's (`at::convolution_backward`: oneDNN's backward kernels on the CPU; its
//   bias sizes are an optional list, which tch does not bind). burn's LibTorch backend
//   otherwise runs burn's generic backward: a transposed convolution for the input's
//   gradient and, for the weights', a convolution whose kernel is the whole output
//   gradient, which oneDNN runs far more slowly than its backward-weights kernel;
// - layer normalisation's (`at::native_layer_norm_backward`: its output mask is a bool
//   array, which tch does not bind). burn composes layer norm from a dozen ops otherwise.
//
// Tensors cross as tch's handles (`at::Tensor*`, owned by the caller); the gradients come
// back as new handles that tch frees. Each returns 0, or 1 with nothing allocated if
// LibTorch threw (the caller then takes burn's generic path).

#include <ATen/core/Tensor.h>
#include <ATen/ops/convolution_backward.h>
#include <ATen/ops/native_layer_norm_backward.h>

#include <array>
#include <cstdint>
#include <exception>
#include <optional>
#include <tuple>

// The gradients `mask` asks for, as new handles for the caller (null for the others).
static void hand_over(const std::tuple<at::Tensor, at::Tensor, at::Tensor> &out,
                      const std::array<bool, 3> &mask, at::Tensor **grads) {
  grads[0] = mask[0] ? new at::Tensor(std::get<0>(out)) : nullptr;
  grads[1] = mask[1] ? new at::Tensor(std::get<1>(out)) : nullptr;
  grads[2] = mask[2] ? new at::Tensor(std::get<2>(out)) : nullptr;
}

extern "C" int benchtop_conv2d_backward(const at::Tensor *grad_output, const at::Tensor *input,
                                        const at::Tensor *weight, const int64_t *stride,
                                        const int64_t *padding, const int64_t *dilation,
                                        int64_t groups, int with_bias, const int *wanted,
                                        at::Tensor **grads) {
  try {
    std::array<int64_t, 1> bias_sizes{weight->size(0)};
    at::OptionalIntArrayRef bias =
        with_bias ? at::OptionalIntArrayRef(bias_sizes) : at::OptionalIntArrayRef(c10::nullopt);
    std::array<int64_t, 2> output_padding{0, 0};
    std::array<bool, 3> mask{wanted[0] != 0, wanted[1] != 0, with_bias && wanted[2] != 0};
    auto out = at::convolution_backward(*grad_output, *input, *weight, bias,
                                        at::IntArrayRef(stride, 2), at::IntArrayRef(padding, 2),
                                        at::IntArrayRef(dilation, 2), false, output_padding,
                                        groups, mask);
    hand_over(out, mask, grads);
    return 0;
  } catch (const std::exception &) {
    return 1;
  }
}

extern "C" int benchtop_layer_norm_backward(const at::Tensor *grad_output, const at::Tensor *input,
                                            int64_t normalized, const at::Tensor *mean,
                                            const at::Tensor *rstd, const at::Tensor *weight,
                                            const at::Tensor *bias, const int *wanted,
                                            at::Tensor **grads) {
  try {
    std::array<int64_t, 1> shape{normalized};
    std::array<bool, 3> mask{wanted[0] != 0, wanted[1] != 0, bias != nullptr && wanted[2] != 0};
    std::optional<at::Tensor> w = *weight;
    std::optional<at::Tensor> b = bias ? std::optional<at::Tensor>(*bias) : std::nullopt;
    auto out = at::native_layer_norm_backward(*grad_output, *input, shape, *mean, *rstd, w, b, mask);
    hand_over(out, mask, grads);
    return 0;
  } catch (const std::exception &) {
    return 1;
  }
}
