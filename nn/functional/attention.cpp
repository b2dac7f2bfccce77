#include "nn/functional/attention.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn::functional {

std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& mask, double dropout_p, bool causal,
                                                       std::optional<double> scale, Generator* gen) {
  return focus::scaled_dot_product_attention(query, key, value, mask, dropout_p, causal, scale, gen);
}

std::pair<Tensor, Tensor> scaled_dot_product_attention_composed(const Tensor& query, const Tensor& key,
                                                                const Tensor& value, const Tensor& mask,
                                                                double dropout_p, bool causal,
                                                                std::optional<double> scale, Generator* gen) {
  (void)gen;
  if (dropout_p != 0.0)
    throw std::invalid_argument(fmt::format(
        "scaled_dot_product_attention_composed: dropout is not supported (got dropout_p = {})", dropout_p));
  check_defined(query, "scaled_dot_product_attention_composed");
  check_defined(key, "scaled_dot_product_attention_composed");
  const double inf = std::numeric_limits<double>::infinity();
  const double factor = scale.value_or(1.0 / std::sqrt(static_cast<double>(query.size(-1))));
  const int64_t L = query.size(-2), S = key.size(-2);  // sizes: queries, keys

  // scores = scale·Q·Kᵀ [..., L, S]: three nodes (transpose view, matmul, multiply by a constant).
  Tensor scores = mul(matmul(query, transpose(key, -2, -1)), scalar_tensor(factor, TensorOptions(query.dtype()).with_device(query.device())));

  // Positions a query may not attend to, as one bool tensor (true = blocked); masks carry no gradient.
  Tensor blocked;
  if (mask.defined() && mask.dtype() == kBool) blocked = logical_not(mask);
  if (causal) {  // key j after query i
    const TensorOptions positions = TensorOptions(kInt64).with_device(query.device());
    Tensor after = gt(unsqueeze(arange(S, positions), 0), unsqueeze(arange(L, positions), 1));
    blocked = blocked.defined() ? logical_or(blocked, after) : after;
  }
  if (blocked.defined()) scores = masked_fill(scores, blocked, -inf);
  if (mask.defined() && mask.dtype() != kBool) scores = add(scores, to_dtype(mask, query.dtype()));

  // A row of −∞ would be softmax's 0/0: such rows are replaced by zeros before the softmax and their
  // weights by zeros after; masked_fill's backward then gives them zero gradient, not NaN.
  Tensor dead;
  if (blocked.defined() || mask.defined())
    dead = eq(amax(scores.detach(), {-1}, /*keepdim=*/true),  // detached: a bool result needs no graph
              scalar_tensor(-inf, TensorOptions(query.dtype()).with_device(query.device())));
  Tensor weights;
  if (dead.defined() && S > 0 && sum(dead).item<int64_t>() > 0)
    weights = masked_fill(softmax(masked_fill(scores, dead, 0.0), -1), dead, 0.0);
  else
    weights = softmax(scores, -1);
  return {matmul(weights, value), weights};
}

}  // namespace focus::nn::functional
