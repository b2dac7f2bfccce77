#pragma once
// ChannelAttention: squeeze-and-excitation (Hu et al., 2018). Each channel gets a
// weight in (0, 1) computed from the whole feature map, and is rescaled by it.
#include <memory>

#include "nn/layers/linear.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// x [N, C, H, W] → x · a, with a [N, C, 1, 1] = σ(W₂ ReLU(W₁ avgpool(x))).
/// W₁: C → C/reduction (the bottleneck), W₂: C/reduction → C.
class ChannelAttention : public UnaryModule {
 public:
  explicit ChannelAttention(int64_t channels, int64_t reduction = 16);

  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "ChannelAttention"; }
  std::string extra_repr() const override;

  /// The channel weights of the last forward, [N, C] (detached), for plots.
  const Tensor& last_attention() const { return last_attention_; }

  int64_t channels, hidden;
  std::shared_ptr<Linear> fc1, fc2;

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
