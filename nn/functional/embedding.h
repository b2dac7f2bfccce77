#pragma once
// Embedding lookup, stateless (focus::nn::functional).
#include <cstdint>
#include <optional>

#include "tensor/tensor.h"

namespace focus::nn::functional {

/// Rows of `weight` [num_embeddings, embedding_dim] picked by int64 `input` ids of any
/// shape → [input..., embedding_dim]. Repeated ids accumulate gradient; the row
/// `padding_idx` (negative counts from the end) gets none. An id outside
/// [0, num_embeddings) throws, naming the id and the vocabulary size.
Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace focus::nn::functional
