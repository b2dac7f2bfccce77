#include "nn/layers/max_pool2d.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/pooling.h"

namespace focus::nn {

MaxPool2d::MaxPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding)
    : kernel_size(kernel_size), stride(stride.value_or(kernel_size)), padding(padding) {}

Tensor MaxPool2d::forward(const Tensor& input) {
  check_defined(input, "MaxPool2d");
  if (input.dim() != 4)
    throw std::invalid_argument(fmt::format("MaxPool2d({}): expected input of shape [N, C, H, W], got {}",
                                            extra_repr(), shape_str(input.shape())));
  return functional::max_pool2d(input, kernel_size, stride, padding);
}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}", kernel_size.str(), stride.str(), padding.str());
}

}  // namespace focus::nn
