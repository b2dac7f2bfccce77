#pragma once
// Scaled dot-product attention, stateless (focus::nn::functional): the fused op and the same
// computation composed from primitive ops, which tests and benchmarks compare it against.
#include <optional>
#include <utility>

#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// softmax(scale·Q·Kᵀ + mask)·V, fused (focus::scaled_dot_product_attention, autograd/ops/
/// scaled_dot_product_attention.cpp): query [..., L, E], key [..., S, E], value [..., S, Ev] → {output
/// [..., L, Ev], weights [..., L, S]}, batch dims broadcast. Like PyTorch's F.scaled_dot_product_attention
/// (plus the weights): a **bool mask is true where a query MAY attend** — the opposite of
/// nn::MultiheadAttention's key_padding_mask and attn_mask, which are true where attention is NOT allowed,
/// as in PyTorch. A float mask is added to the scaled scores. causal: query i sees keys j ≤ i. scale
/// defaults to 1/√E. A query that may attend to nothing gets zero weights and a zero output (no NaN).
/// Dropout (p = dropout_p, from gen) acts on the weights used for the output; the returned weights are
/// those before dropout.
std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& mask = {}, double dropout_p = 0.0,
                                                       bool causal = false, std::optional<double> scale = {},
                                                       Generator* gen = nullptr);

/// The same attention built only from primitive differentiable ops (matmul, transpose, mul, masked_fill,
/// add, softmax), each with its own node, so autograd derives the backward: the reference the fused op
/// is tested and benchmarked against. Same arguments and results, including zero weights for a query
/// that may attend to nothing; dropout is not supported (dropout_p must be 0, gen is unused).
std::pair<Tensor, Tensor> scaled_dot_product_attention_composed(const Tensor& query, const Tensor& key,
                                                                const Tensor& value, const Tensor& mask = {},
                                                                double dropout_p = 0.0, bool causal = false,
                                                                std::optional<double> scale = {},
                                                                Generator* gen = nullptr);

}  // namespace focus::nn::functional
