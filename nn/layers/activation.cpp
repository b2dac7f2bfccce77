#include "nn/layers/activation.h"

#include <fmt/format.h>

#include "nn/functional/activation.h"

namespace focus::nn {

Tensor ReLU::forward(const Tensor& input) { return functional::relu(input); }

Tensor LeakyReLU::forward(const Tensor& input) { return functional::leaky_relu(input, negative_slope); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", negative_slope); }

Tensor GELU::forward(const Tensor& input) { return functional::gelu(input); }

Tensor SiLU::forward(const Tensor& input) { return functional::silu(input); }

Tensor Tanh::forward(const Tensor& input) { return functional::tanh(input); }

Tensor Sigmoid::forward(const Tensor& input) { return functional::sigmoid(input); }

Tensor Softmax::forward(const Tensor& input) { return functional::softmax(input, dim); }
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }

Tensor LogSoftmax::forward(const Tensor& input) { return functional::log_softmax(input, dim); }
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

}  // namespace focus::nn
