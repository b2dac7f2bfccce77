#pragma once
// RMSNorm (Zhang & Sennrich, 2019): y = x / √(mean(x²) + ε) ⊙ weight over the last dim. A new layer
// from existing ops, outside focus's tree: no backward to write, autograd chains the ops'.
#include <focus.h>

namespace my {

class RMSNorm : public focus::nn::UnaryModule {
 public:
  explicit RMSNorm(int64_t features, double eps = 1e-6);

  focus::Tensor forward(const focus::Tensor& x) override;
  std::string type_name() const override { return "RMSNorm"; }
  std::string extra_repr() const override;

  int64_t features;
  double eps;
  focus::Tensor weight;  ///< [features], ones at start (PyTorch's nn.RMSNorm)
};

}  // namespace my
