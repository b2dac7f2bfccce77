#include "nn/layers/adaptive_avg_pool2d.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/pooling.h"

namespace focus::nn {

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Size2 output_size) : output_size(output_size) {
  if (output_size.h <= 0 || output_size.w <= 0)
    throw std::invalid_argument(
        fmt::format("AdaptiveAvgPool2d: output_size must be positive, got {}", output_size.str()));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  check_defined(input, "AdaptiveAvgPool2d");
  if (input.dim() != 4)
    throw std::invalid_argument(fmt::format("AdaptiveAvgPool2d({}): expected input of shape [N, C, H, W], got {}",
                                            extra_repr(), shape_str(input.shape())));
  return functional::adaptive_avg_pool2d(input, output_size);
}

std::string AdaptiveAvgPool2d::extra_repr() const { return fmt::format("output_size={}", output_size.str()); }

}  // namespace focus::nn
