#pragma once
// SpatialAttention: the spatial half of CBAM (Woo et al., 2018). Every position of
// the feature map gets a weight in (0, 1) from what all channels say about it.
#include <memory>

#include "nn/layers/conv2d.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// x [N, C, H, W] → x · m, with the map m [N, 1, H, W] = σ(conv_k×k([mean_c x; max_c x])).
class SpatialAttention : public UnaryModule {
 public:
  explicit SpatialAttention(int64_t kernel_size = 7);

  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "SpatialAttention"; }
  std::string extra_repr() const override;

  /// The attention map of the last forward, [N, H, W] (detached), for heat maps.
  const Tensor& last_attention() const { return last_attention_; }

  int64_t kernel_size;
  std::shared_ptr<Conv2d> conv;

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
