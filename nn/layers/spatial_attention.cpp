#include "nn/layers/spatial_attention.h"

#include <fmt/format.h>

#include "autograd/ops.h"

namespace focus::nn {

SpatialAttention::SpatialAttention(int64_t kernel_size) : kernel_size(kernel_size) {
  if (kernel_size <= 0 || kernel_size % 2 == 0)
    throw std::invalid_argument(fmt::format("SpatialAttention: kernel_size must be odd and positive, got {}", kernel_size));
  conv = register_module("conv", std::make_shared<Conv2d>(Conv2dOptions(2, 1, kernel_size).padding(kernel_size / 2)));
}

std::string SpatialAttention::extra_repr() const { return fmt::format("kernel_size={}", kernel_size); }

Tensor SpatialAttention::forward(const Tensor& input) {
  if (input.dim() != 4)
    throw std::invalid_argument(fmt::format("SpatialAttention(kernel_size={}): expected input of shape [N, C, H, W], got {}",
                                            kernel_size, shape_str(input.shape())));
  // Two descriptors per position: the average and the strongest channel response.
  Tensor average = mean(input, {1}, true);                    // [N, 1, H, W]
  Tensor strongest = amax(input, {1}, true);                  // [N, 1, H, W]
  Tensor map = sigmoid((*conv)(cat({average, strongest}, 1))); // [N, 1, H, W]
  last_attention_ = map.detach().squeeze(1);
  return input * map;
}

}  // namespace focus::nn
