#pragma once
// Activation functions (focus::nn::functional), the stateless forms of the
// layers in nn/layers/activation.h. Elementwise ones keep the input's shape.
#include <cstdint>

#include "tensor/tensor.h"

namespace focus::nn::functional {

/// max(x, 0).
Tensor relu(const Tensor& x);
/// x for x > 0, negative_slope·x otherwise.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
/// Exact GELU: x·Φ(x), Φ the standard normal CDF.
Tensor gelu(const Tensor& x);
Tensor tanh(const Tensor& x);
/// 1 / (1 + e^(−x)).
Tensor sigmoid(const Tensor& x);
/// x·sigmoid(x) (also called swish).
Tensor silu(const Tensor& x);
/// exp(x) / Σ exp(x) along `dim`.
Tensor softmax(const Tensor& x, int64_t dim);
/// log(softmax(x)) along `dim`, computed stably.
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace focus::nn::functional
