#pragma once
// Flatten: merges a range of dims into one, like torch.nn.Flatten (a view when possible).
#include <cstdint>
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// Merges dims start_dim..end_dim (inclusive; negative counts from the end). The
/// defaults keep the batch dim: [N, C, H, W] → [N, C·H·W].
class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;

  int64_t start_dim, end_dim;
};

}  // namespace focus::nn
