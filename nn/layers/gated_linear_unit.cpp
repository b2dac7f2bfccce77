#include "nn/layers/gated_linear_unit.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

GatedLinearUnit::GatedLinearUnit(int64_t in_features, int64_t out_features)
    : in_features(in_features), out_features(out_features) {
  proj = register_module("proj", std::make_shared<Linear>(in_features, 2 * out_features));
}

std::string GatedLinearUnit::extra_repr() const {
  return fmt::format("in_features={}, out_features={}", in_features, out_features);
}

Tensor GatedLinearUnit::forward(const Tensor& input) {
  if (input.dim() == 0 || input.size(input.dim() - 1) != in_features)
    throw std::invalid_argument(fmt::format("GatedLinearUnit({}): expected input of shape [..., {}], got {}",
                                            extra_repr(), in_features, shape_str(input.shape())));
  Tensor h = (*proj)(input);                              // [..., 2·out]
  std::vector<Tensor> halves = chunk(h, 2, h.dim() - 1);  // a, b: [..., out] each (views)
  return halves[0] * sigmoid(halves[1]);                  // a ⊙ σ(b)
}

}  // namespace focus::nn
