#pragma once
// Linear: a fully connected layer, y = x·Wᵀ + b, like torch.nn.Linear.
#include <cstdint>
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// y = x·weightᵀ + bias over the last dim: [..., in_features] → [..., out_features].
/// weight [out_features, in_features] and bias [out_features] start as PyTorch's:
/// kaiming_uniform_(a = √5), i.e. U(−1/√in_features, 1/√in_features), for both.
class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  /// Re-draws weight and bias from the default initialisation.
  void reset_parameters();

  int64_t in_features, out_features;
  Tensor weight;
  Tensor bias;  ///< undefined when constructed with bias = false
};

}  // namespace focus::nn
