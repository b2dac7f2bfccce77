#pragma once
// Layer normalisation, stateless (focus::nn::functional). Included by
// nn/functional/normalization.h with the other normalisation functions.
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// Normalises over the trailing dims `normalized_shape` (Ba et al. 2016):
/// (x − mean) / √(var + eps) · weight + bias, with the population variance; weight and
/// bias (shape normalized_shape) are optional. Fused, with an explicit backward.
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

}  // namespace focus::nn::functional
