#include "nn/layers/attention_context.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

void check_attention_inputs(const std::string& layer, const Tensor& query, int64_t query_dim, const Tensor& keys,
                            const std::string& keys_name, int64_t key_dim, const Tensor& values, const Tensor& mask) {
  if ((query.dim() != 2 && query.dim() != 3) || query.size(-1) != query_dim)
    throw std::invalid_argument(fmt::format("{}: expected query of shape [B, {}] or [B, Lq, {}], got {}", layer,
                                            query_dim, query_dim, shape_str(query.shape())));
  if (keys.dim() != 3 || (key_dim >= 0 && keys.size(2) != key_dim))
    throw std::invalid_argument(fmt::format("{}: expected {} of shape [B, Lk, {}], got {}", layer, keys_name,
                                            key_dim >= 0 ? std::to_string(key_dim) : std::string("D"),
                                            shape_str(keys.shape())));
  if (keys.size(0) != query.size(0))
    throw std::invalid_argument(fmt::format("{}: query {} and {} {} have different batch sizes", layer,
                                            shape_str(query.shape()), keys_name, shape_str(keys.shape())));
  if (values.dim() != 3 || values.size(0) != keys.size(0) || values.size(1) != keys.size(1))
    throw std::invalid_argument(fmt::format("{}: values {} must be [B, Lk, Dv] with the B and Lk of {} {}", layer,
                                            shape_str(values.shape()), keys_name, shape_str(keys.shape())));
  if (!mask.defined()) return;
  if (mask.dtype() != kBool || mask.shape() != Shape{keys.size(0), keys.size(1)})
    throw std::invalid_argument(fmt::format("{}: mask must be bool [{}, {}] (true = real position) for {} {}, "
                                            "got {} {}", layer, keys.size(0), keys.size(1), keys_name,
                                            shape_str(keys.shape()), dtype_name(mask.dtype()), shape_str(mask.shape())));
}

int64_t first_empty_mask_row(const Tensor& mask) {
  thread_local std::weak_ptr<Storage> last_checked_gpu_mask;
  const bool on_gpu = mask.device().is_cuda();
  if (on_gpu && !last_checked_gpu_mask.expired() && last_checked_gpu_mask.lock() == mask.storage()) return -1;
  std::vector<int64_t> real = sum(to_dtype(mask, kInt64), {1}).to_vector<int64_t>();
  for (size_t b = 0; b < real.size(); ++b)
    if (real[b] == 0) return static_cast<int64_t>(b);
  if (on_gpu) last_checked_gpu_mask = mask.storage();
  return -1;
}

Tensor query_as_sequence(const Tensor& query) { return query.dim() == 2 ? query.unsqueeze(1) : query; }

Tensor masked_softmax(const Tensor& scores, const Tensor& mask) {
  // The mask row of a batch entry applies to each of its queries: [B, L] → [B, 1, L].
  auto over_queries = [&](const Tensor& rows) { return scores.dim() == 3 ? rows.unsqueeze(1) : rows; };
  if (first_empty_mask_row(mask) < 0)  // the common case: one masked_fill, one softmax
    return softmax(masked_fill(scores, over_queries(logical_not(mask)), -INFINITY), -1);
  // An empty row takes the softmax over all its positions (finite, so no NaN enters the graph) and
  // is then multiplied by 0: weights 0, and 0 times whatever flows back.
  Tensor has_real = gt(sum(to_dtype(mask, kInt64), {1}, /*keepdim=*/true), zeros({}, kInt64));  // [B, 1]
  Tensor keep = logical_or(mask, logical_not(has_real));
  Tensor weights = softmax(masked_fill(scores, over_queries(logical_not(keep)), -INFINITY), -1);
  return weights * to_dtype(over_queries(has_real), scores.dtype());
}

AttentionContext attend(const Tensor& scores, const Tensor& values, const Tensor& mask, bool one_step) {
  Tensor weights = mask.defined() ? masked_softmax(scores, mask) : softmax(scores, 2);  // [B, Lq, Lk]
  Tensor context = matmul(weights, values);  // [B, Lq, Lk]·[B, Lk, Dv] → [B, Lq, Dv]
  if (one_step) return {context.squeeze(1), weights.squeeze(1)};
  return {context, weights};
}

}  // namespace focus::nn
