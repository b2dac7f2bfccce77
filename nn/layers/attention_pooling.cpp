#include "nn/layers/attention_pooling.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/layers/attention_context.h"

namespace focus::nn {

AttentionPooling::AttentionPooling(int64_t dim) : dim(dim) {
  if (dim <= 0) throw std::invalid_argument(fmt::format("AttentionPooling: dim must be positive, got {}", dim));
  // Like a Linear(dim, 1): U(−1/√dim, 1/√dim).
  double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  score_weight = register_parameter("score_weight", uniform({dim}, -bound, bound));
  score_bias = register_parameter("score_bias", uniform({1}, -bound, bound));
}

std::string AttentionPooling::extra_repr() const { return fmt::format("dim={}", dim); }

AttentionPoolingOutput AttentionPooling::forward(const Tensor& input, const Tensor& mask) {
  if (input.dim() != 3 || input.size(2) != dim)
    throw std::invalid_argument(fmt::format("AttentionPooling(dim={}): expected input of shape [N, L, {}], got {}", dim,
                                            dim, shape_str(input.shape())));
  Tensor scores = matmul(input, score_weight) + score_bias;  // [N, L]
  if (mask.defined()) {
    if (mask.shape() != scores.shape() || mask.dtype() != kBool)
      throw std::invalid_argument(fmt::format("AttentionPooling(dim={}): mask must be bool {}, got {} {}", dim,
                                              shape_str(scores.shape()), dtype_name(mask.dtype()),
                                              shape_str(mask.shape())));
  }
  // Padding gets weight exactly 0; a row with no real position pools to 0 (masked_softmax).
  Tensor weights = mask.defined() ? masked_softmax(scores, mask) : softmax(scores, 1);  // [N, L]
  Tensor pooled = matmul(weights.unsqueeze(1), input).squeeze(1);  // [N, 1, L]·[N, L, D] → [N, D]
  last_attention_ = weights.detach();
  record_output_shape(pooled.shape());
  return {pooled, weights};
}

AttentionPoolingOutput AttentionPooling::operator()(const Tensor& input, const Tensor& mask) {
  return forward(input, mask);
}

}  // namespace focus::nn
