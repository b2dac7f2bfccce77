#include "nn/functional/embedding.h"

#include "autograd/ops.h"

namespace focus::nn::functional {

Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx) {
  check_defined(weight, "embedding");
  if (padding_idx && *padding_idx < 0 && weight.dim() == 2) *padding_idx += weight.size(0);
  return focus::embedding(weight, input, padding_idx);
}

}  // namespace focus::nn::functional
