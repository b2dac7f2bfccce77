#include "nn/layers/luong_attention.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

namespace {
const char* score_name(LuongScore score) {
  switch (score) {
    case LuongScore::Dot: return "dot";
    case LuongScore::General: return "general";
    case LuongScore::Concat: return "concat";
  }
  return "?";
}
}  // namespace

LuongAttention::LuongAttention(int64_t query_dim, int64_t key_dim, LuongScore score, int64_t hidden_dim)
    : query_dim(query_dim), key_dim(key_dim), hidden_dim(0), score(score) {
  if (query_dim <= 0 || key_dim <= 0 || hidden_dim < 0)
    throw std::invalid_argument(fmt::format("LuongAttention: dims must be positive, got query_dim={}, key_dim={}, "
                                            "hidden_dim={}", query_dim, key_dim, hidden_dim));
  switch (score) {
    case LuongScore::Dot:
      if (query_dim != key_dim)
        throw std::invalid_argument(fmt::format(
            "LuongAttention: the dot score needs query_dim == key_dim, got {} and {}", query_dim, key_dim));
      break;
    case LuongScore::General:
      linear = register_module("linear", std::make_shared<Linear>(LinearOptions(key_dim, query_dim).bias(false)));
      break;
    case LuongScore::Concat: {
      this->hidden_dim = hidden_dim > 0 ? hidden_dim : query_dim;
      linear = register_module(
          "linear", std::make_shared<Linear>(LinearOptions(query_dim + key_dim, this->hidden_dim).bias(false)));
      double bound = 1.0 / std::sqrt(static_cast<double>(this->hidden_dim));
      v = register_parameter("v", uniform({this->hidden_dim}, -bound, bound));
      break;
    }
  }
}

std::string LuongAttention::extra_repr() const {
  std::string repr = fmt::format("query_dim={}, key_dim={}, score={}", query_dim, key_dim, score_name(score));
  if (score == LuongScore::Concat) repr += fmt::format(", hidden_dim={}", hidden_dim);
  return repr;
}

AttentionContext LuongAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                                         const Tensor& mask) {
  check_attention_inputs("LuongAttention(" + extra_repr() + ")", query, query_dim, keys, "keys", key_dim, values,
                         mask);
  Tensor q = query_as_sequence(query);  // [B, Lq, Dq]
  Tensor scores;                        // [B, Lq, Lk]
  switch (score) {
    case LuongScore::Dot:  // qᵀ k: [B, Lq, D]·[B, D, Lk]
      scores = matmul(q, keys.transpose(1, 2));
      break;
    case LuongScore::General:  // qᵀ (W k): project the keys to Dq, then the dot score
      scores = matmul(q, (*linear)(keys).transpose(1, 2));
      break;
    case LuongScore::Concat: {
      // W [q; k] = W_q q + W_k k with W = [W_q | W_k] split by columns: the same numbers without building the
      // [B, Lq, Lk, Dq + Dk] concatenation; the gradients flow back into the two column blocks of W.
      Tensor w_q = linear->weight.narrow(1, 0, query_dim);        // [H, Dq]
      Tensor w_k = linear->weight.narrow(1, query_dim, key_dim);  // [H, Dk]
      Tensor h = matmul(q, w_q.t()).unsqueeze(2) + matmul(keys, w_k.t()).unsqueeze(1);  // [B, Lq, Lk, H]
      scores = matmul(tanh(h), v);
      break;
    }
  }
  AttentionContext result = attend(scores, values, mask, query.dim() == 2);
  last_attention_ = result.weights.detach();
  return result;
}

AttentionContext LuongAttention::operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                                            const Tensor& mask) {
  AttentionContext result = forward(query, keys, values, mask);
  record_output_shape(result.context.shape());
  return result;
}

}  // namespace focus::nn
