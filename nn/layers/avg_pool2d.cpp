#include "nn/layers/avg_pool2d.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/pooling.h"

namespace focus::nn {

AvgPool2d::AvgPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding, bool count_include_pad)
    : kernel_size(kernel_size),
      stride(stride.value_or(kernel_size)),
      padding(padding),
      count_include_pad(count_include_pad) {}

Tensor AvgPool2d::forward(const Tensor& input) {
  check_defined(input, "AvgPool2d");
  if (input.dim() != 4)
    throw std::invalid_argument(fmt::format("AvgPool2d({}): expected input of shape [N, C, H, W], got {}",
                                            extra_repr(), shape_str(input.shape())));
  return functional::avg_pool2d(input, kernel_size, stride, padding, count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}{}", kernel_size.str(), stride.str(), padding.str(),
                     count_include_pad ? "" : ", count_include_pad=False");
}

}  // namespace focus::nn
