#include "nn/functional/pooling.h"

#include "autograd/ops.h"

namespace focus::nn::functional {

Tensor max_pool2d(const Tensor& input, Size2 kernel_size, std::optional<Size2> stride, Size2 padding) {
  return focus::max_pool2d(input, kernel_size.pair(), stride.value_or(kernel_size).pair(), padding.pair());
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Size2 kernel_size, std::optional<Size2> stride,
                                                  Size2 padding) {
  return focus::max_pool2d_with_indices(input, kernel_size.pair(), stride.value_or(kernel_size).pair(),
                                        padding.pair());
}

Tensor avg_pool2d(const Tensor& input, Size2 kernel_size, std::optional<Size2> stride, Size2 padding,
                  bool count_include_pad) {
  return focus::avg_pool2d(input, kernel_size.pair(), stride.value_or(kernel_size).pair(), padding.pair(),
                           count_include_pad);
}

Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size) {
  return focus::adaptive_avg_pool2d(input, output_size.pair());
}

}  // namespace focus::nn::functional
