#pragma once
// GatedLinearUnit: the worked example of docs/new-layer.md (route a: a layer whose
// forward is made of existing ops, so autograd provides its backward).
#include <cstdint>
#include <memory>
#include <string>

#include "nn/layers/linear.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// GLU (Dauphin et al., 2017): [a, b] = proj(x) split in halves, y = a ⊙ σ(b):
/// [..., in_features] → [..., out_features]. proj is a Linear(in_features, 2·out_features).
class GatedLinearUnit : public UnaryModule {
 public:
  GatedLinearUnit(int64_t in_features, int64_t out_features);

  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "GatedLinearUnit"; }
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  std::shared_ptr<Linear> proj;
};

}  // namespace focus::nn
