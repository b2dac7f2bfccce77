#include "nn/functional/conv.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

std::string padding_str(const Conv2dPadding& padding) {
  if (const auto* mode = std::get_if<Padding>(&padding)) return *mode == Padding::Same ? "'same'" : "'valid'";
  return std::get<Size2>(padding).str();
}

}  // namespace focus::nn

namespace focus::nn::functional {

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dFuncOptions& options) {
  std::pair<int64_t, int64_t> padding{0, 0}, extra{0, 0};
  if (const auto* mode = std::get_if<Padding>(&options.padding_)) {
    if (*mode == Padding::Same) {
      if (options.stride_ != Size2(1))
        throw std::invalid_argument(
            fmt::format("conv2d: padding='same' needs stride 1, got stride {}", options.stride_.str()));
      check_defined(weight, "conv2d");
      if (weight.dim() != 4)
        throw std::invalid_argument(fmt::format(
            "conv2d: expected a 4-D weight [C_out, C_in / groups, kH, kW], got shape {}", shape_str(weight.shape())));
      // The output keeps the input's size when the padding adds up to dilation·(k − 1);
      // an odd total puts the extra row/column after, as PyTorch does.
      const int64_t total_h = options.dilation_.h * (weight.shape()[2] - 1);
      const int64_t total_w = options.dilation_.w * (weight.shape()[3] - 1);
      padding = {total_h / 2, total_w / 2};
      extra = {total_h % 2, total_w % 2};
    }
  } else {
    padding = std::get<Size2>(options.padding_).pair();
  }
  return focus::conv2d(input, weight, bias, options.stride_.pair(), padding, options.dilation_.pair(),
                       options.groups_, extra);
}

}  // namespace focus::nn::functional
