#include "nn/functional/activation.h"

#include "autograd/ops.h"

namespace focus::nn::functional {

Tensor relu(const Tensor& x) { return focus::relu(x); }
Tensor leaky_relu(const Tensor& x, double negative_slope) { return focus::leaky_relu(x, negative_slope); }
Tensor gelu(const Tensor& x) { return focus::gelu(x); }
Tensor tanh(const Tensor& x) { return focus::tanh(x); }
Tensor sigmoid(const Tensor& x) { return focus::sigmoid(x); }
Tensor silu(const Tensor& x) { return focus::mul(x, focus::sigmoid(x)); }
Tensor softmax(const Tensor& x, int64_t dim) { return focus::softmax(x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return focus::log_softmax(x, dim); }

}  // namespace focus::nn::functional
