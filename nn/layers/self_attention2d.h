#pragma once
// SelfAttention2d: the non-local block of SAGAN (Zhang et al., 2019; Wang et al., 2018):
// every position of a feature map attends to every other, so a convolutional network
// can relate distant regions in one layer.
#include <cstdint>
#include <memory>
#include <string>

#include "nn/layers/conv2d.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// x [N, C, H, W] → gamma · attended + x, where, with the HW positions as a sequence,
///   q = query_conv(x), k = key_conv(x)  [N, HW, C/reduction],   v = value_conv(x)  [N, HW, C],
///   attended = scaled_dot_product_attention(q, k, v) = softmax(q·kᵀ/√(C/reduction))·v, back to [N, C, H, W].
/// The convolutions are 1×1 with bias (Conv2d's default init); C/reduction is at least 1. gamma [1] starts
/// at 0 (SAGAN's residual gate): the block begins as the identity and learns how much attention to mix in.
/// SAGAN scores with q·kᵀ unscaled; the 1/√d of the fused op keeps the softmax from saturating as C grows.
class SelfAttention2d : public UnaryModule {
 public:
  explicit SelfAttention2d(int64_t channels, int64_t reduction = 8);

  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "SelfAttention2d"; }
  std::string extra_repr() const override;

  /// The weights of the last forward, [N, HW, HW] (detached): row i is where position i = h·W + w looked.
  const Tensor& last_attention() const { return last_attention_; }

  int64_t channels, reduction, inner_channels;
  std::shared_ptr<Conv2d> query_conv;  ///< C → inner_channels
  std::shared_ptr<Conv2d> key_conv;    ///< C → inner_channels
  std::shared_ptr<Conv2d> value_conv;  ///< C → C
  Tensor gamma;                        ///< [1], starts at 0

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
