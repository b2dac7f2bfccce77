#include "nn/layers/self_attention2d.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

SelfAttention2d::SelfAttention2d(int64_t channels, int64_t reduction)
    : channels(channels), reduction(reduction) {
  if (channels <= 0 || reduction <= 0)
    throw std::invalid_argument(fmt::format("SelfAttention2d: channels and reduction must be positive, got {} and {}",
                                            channels, reduction));
  inner_channels = std::max<int64_t>(1, channels / reduction);
  query_conv = register_module("query_conv", std::make_shared<Conv2d>(channels, inner_channels, 1));
  key_conv = register_module("key_conv", std::make_shared<Conv2d>(channels, inner_channels, 1));
  value_conv = register_module("value_conv", std::make_shared<Conv2d>(channels, channels, 1));
  gamma = register_parameter("gamma", zeros({1}));
}

std::string SelfAttention2d::extra_repr() const {
  return reduction == 8 ? fmt::format("{}", channels) : fmt::format("{}, reduction={}", channels, reduction);
}

Tensor SelfAttention2d::forward(const Tensor& input) {
  if (input.dim() != 4 || input.size(1) != channels)
    throw std::invalid_argument(fmt::format("SelfAttention2d({}): expected input of shape [N, {}, H, W], got {}",
                                            extra_repr(), channels, shape_str(input.shape())));
  int64_t n = input.size(0), height = input.size(2), width = input.size(3), positions = height * width;
  // [N, C', H, W] → [N, C', HW] → [N, HW, C']: one row per position, as attention wants.
  auto as_sequence = [&](const Tensor& map) { return map.reshape({n, map.size(1), positions}).transpose(1, 2); };
  Tensor q = as_sequence((*query_conv)(input));  // [N, HW, C/r]
  Tensor k = as_sequence((*key_conv)(input));    // [N, HW, C/r]
  Tensor v = as_sequence((*value_conv)(input));  // [N, HW, C]
  auto [attended, weights] = scaled_dot_product_attention(q, k, v);  // [N, HW, C], [N, HW, HW]
  Tensor attended_map = attended.transpose(1, 2).reshape({n, channels, height, width});
  last_attention_ = weights.detach();
  return gamma * attended_map + input;
}

}  // namespace focus::nn
