#include "nn/layers/additive_attention.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

AdditiveAttention::AdditiveAttention(int64_t query_dim, int64_t key_dim, int64_t hidden_dim)
    : query_dim(query_dim), key_dim(key_dim), hidden_dim(hidden_dim) {
  if (query_dim <= 0 || key_dim <= 0 || hidden_dim <= 0)
    throw std::invalid_argument(fmt::format("AdditiveAttention: dims must be positive, got {}", extra_repr()));
  query_proj =
      register_module("query_proj", std::make_shared<Linear>(LinearOptions(query_dim, hidden_dim).bias(false)));
  key_proj = register_module("key_proj", std::make_shared<Linear>(key_dim, hidden_dim));
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden_dim));
  v = register_parameter("v", uniform({hidden_dim}, -bound, bound));
}

std::string AdditiveAttention::extra_repr() const {
  return fmt::format("query_dim={}, key_dim={}, hidden_dim={}", query_dim, key_dim, hidden_dim);
}

Tensor AdditiveAttention::project_keys(const Tensor& keys) {
  if (keys.dim() != 3 || keys.size(2) != key_dim)
    throw std::invalid_argument(fmt::format("AdditiveAttention({}): expected keys of shape [B, Lk, {}], got {}",
                                            extra_repr(), key_dim, shape_str(keys.shape())));
  return (*key_proj)(keys);
}

AttentionContext AdditiveAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                                            const Tensor& mask) {
  check_attention_inputs("AdditiveAttention(" + extra_repr() + ")", query, query_dim, keys, "keys", key_dim, values,
                         mask);
  return attend_projected(query, (*key_proj)(keys), values, mask);
}

AttentionContext AdditiveAttention::forward_projected(const Tensor& query, const Tensor& projected_keys,
                                                      const Tensor& values, const Tensor& mask) {
  check_attention_inputs("AdditiveAttention(" + extra_repr() + ")", query, query_dim, projected_keys,
                         "projected keys", hidden_dim, values, mask);
  return attend_projected(query, projected_keys, values, mask);
}

AttentionContext AdditiveAttention::attend_projected(const Tensor& query, const Tensor& projected_keys,
                                                     const Tensor& values, const Tensor& mask) {
  // Each line is one step of docs/attention-backprop.md §10; autograd runs their backwards in reverse.
  Tensor q = (*query_proj)(query_as_sequence(query));       // W_q q               [B, Lq, H]
  Tensor h = q.unsqueeze(2) + projected_keys.unsqueeze(1);  // h = W_q q + W_k k   [B, Lq, Lk, H]
  Tensor t = tanh(h);                                       // t = tanh h          [B, Lq, Lk, H]
  Tensor scores = matmul(t, v);                             // e = vᵀ t            [B, Lq, Lk]
  AttentionContext result = attend(scores, values, mask, query.dim() == 2);  // softmax, Σ_j w_j u_j
  last_attention_ = result.weights.detach();
  return result;
}

AttentionContext AdditiveAttention::operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                                               const Tensor& mask) {
  AttentionContext result = forward(query, keys, values, mask);
  record_output_shape(result.context.shape());
  return result;
}

}  // namespace focus::nn
