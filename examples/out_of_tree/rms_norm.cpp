#include "rms_norm.h"

#include <fmt/format.h>

namespace my {

using namespace focus;

RMSNorm::RMSNorm(int64_t features, double eps) : features(features), eps(eps) {
  weight = register_parameter("weight", ones({features}));
}

Tensor RMSNorm::forward(const Tensor& x) {
  if (x.dim() < 1 || x.size(-1) != features)
    throw std::invalid_argument(
        fmt::format("RMSNorm({}): expected input of shape [..., {}], got {}", extra_repr(), features, shape_str(x.shape())));
  Tensor mean_square = mean(x * x, {x.dim() - 1}, /*keepdim=*/true);  // [..., 1]
  return x / sqrt(mean_square + eps) * weight;                         // [..., features]
}

std::string RMSNorm::extra_repr() const { return fmt::format("features={}, eps={}", features, eps); }

}  // namespace my
