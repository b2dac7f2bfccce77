#pragma once
// The affine map of nn::Linear, stateless (focus::nn::functional).
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// input @ weightᵀ + bias: input [..., in_features], weight [out_features, in_features],
/// bias [out_features] or undefined → [..., out_features]. One GEMM accumulating onto the bias.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});

}  // namespace focus::nn::functional
