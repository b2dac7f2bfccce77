#include "nn/layers/layer_norm.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/layer_norm.h"
#include "nn/init.h"

namespace focus::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape(std::move(normalized_shape)), eps(eps), elementwise_affine(elementwise_affine) {
  if (this->normalized_shape.empty() || shape_numel(this->normalized_shape) <= 0)
    throw std::invalid_argument(
        fmt::format("LayerNorm: normalized_shape must be non-empty, got {}", shape_str(this->normalized_shape)));
  if (elementwise_affine) {
    weight = register_parameter("weight", empty(this->normalized_shape));
    bias = register_parameter("bias", empty(this->normalized_shape));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (!elementwise_affine) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& input) {
  check_defined(input, "LayerNorm");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  if (input.dim() < k || Shape(input.shape().end() - k, input.shape().end()) != normalized_shape)
    throw std::invalid_argument(fmt::format("LayerNorm({}): expected input of shape [..., {}], got {}", extra_repr(),
                                            fmt::join(normalized_shape, ", "), shape_str(input.shape())));
  return functional::layer_norm(input, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", shape_str(normalized_shape), eps, elementwise_affine);
}

}  // namespace focus::nn
