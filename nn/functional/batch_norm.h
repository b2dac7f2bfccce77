#pragma once
// Batch normalisation, stateless (focus::nn::functional), like
// torch.nn.functional.batch_norm. Included by nn/functional/normalization.h.
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// Normalises each channel (dim 1) of input [N, C, *] (Ioffe & Szegedy 2015):
/// (x − mean) / √(var + eps) · weight + bias, weight and bias [C] optional.
/// training: mean and (biased) var of the batch; running_mean/running_var, when given,
/// are updated in place with `momentum`, the variance unbiased (× M/(M − 1)), as PyTorch.
/// Otherwise: the running statistics (then required). Fused, with an explicit backward.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {}, bool training = false, double momentum = 0.1,
                  double eps = 1e-5);

}  // namespace focus::nn::functional
