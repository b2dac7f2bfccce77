#include "nn/layers/channel_attention.h"

#include <fmt/format.h>

#include "autograd/ops.h"

namespace focus::nn {

ChannelAttention::ChannelAttention(int64_t channels, int64_t reduction)
    : channels(channels), hidden(std::max<int64_t>(1, channels / std::max<int64_t>(reduction, 1))) {
  if (channels <= 0 || reduction <= 0)
    throw std::invalid_argument(fmt::format("ChannelAttention: channels {} and reduction {} must be positive",
                                            channels, reduction));
  fc1 = register_module("fc1", std::make_shared<Linear>(channels, hidden));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, channels));
}

std::string ChannelAttention::extra_repr() const { return fmt::format("{}, hidden={}", channels, hidden); }

Tensor ChannelAttention::forward(const Tensor& input) {
  if (input.dim() != 4 || input.size(1) != channels)
    throw std::invalid_argument(fmt::format("ChannelAttention({}): expected input of shape [N, {}, H, W], got {}",
                                            channels, channels, shape_str(input.shape())));
  // Squeeze: one number per channel. Excite: a bottleneck MLP, then a gate in (0, 1).
  Tensor squeezed = mean(input, {2, 3});                                  // [N, C]
  Tensor weights = sigmoid((*fc2)(relu((*fc1)(squeezed))));              // [N, C]
  last_attention_ = weights.detach();
  return input * weights.reshape({input.size(0), channels, 1, 1});     // rescale each channel
}

}  // namespace focus::nn
