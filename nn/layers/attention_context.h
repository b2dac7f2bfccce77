#pragma once
// What AdditiveAttention and LuongAttention share: the checks of their inputs and the
// step after the scores (mask, softmax over the keys, weighted sum of the values). The
// layers differ only in how they score a query against a key.
#include <string>

#include "tensor/tensor.h"

namespace focus::nn {

/// What an encoder-decoder attention layer returns (`auto [context, weights] = attn(q, k, v);`).
struct AttentionContext {
  Tensor context;  ///< [B, Dv] for a query [B, Dq], [B, Lq, Dv] for a query [B, Lq, Dq]
  Tensor weights;  ///< [B, Lk] or [B, Lq, Lk]; rows sum to 1, exactly 0 at masked positions
};

/// Throws std::invalid_argument, naming `layer` and the shapes involved, unless query is [B, Dq] or
/// [B, Lq, Dq] with Dq = query_dim, keys [B, Lk, key_dim] (`keys_name` says what they are: "keys",
/// "projected keys"), values [B, Lk, Dv], and mask (when defined) bool [B, Lk]. key_dim < 0 skips the
/// check of keys' last dim. A mask row with no real position is allowed: see masked_softmax.
void check_attention_inputs(const std::string& layer, const Tensor& query, int64_t query_dim, const Tensor& keys,
                            const std::string& keys_name, int64_t key_dim, const Tensor& values, const Tensor& mask);

/// The first row of a bool mask [B, L] with no true entry, or -1 when every row has one. A mask on
/// a GPU is read back once per storage (a decoder checks the same source mask at every step, and
/// each read would stall the GPU), so change a mask in place only between batches.
int64_t first_empty_mask_row(const Tensor& mask);

/// The query as [B, Lq, Dq]: a one-step query [B, Dq] becomes [B, 1, Dq] (a view).
Tensor query_as_sequence(const Tensor& query);

/// The softmax over the last dim of `scores` ([B, L], or [B, Lq, L] with one mask row for all Lq
/// queries) with the positions where the bool mask [B, L] is false at −∞: their weight and gradient
/// are exactly 0. A row with no real position has nothing to attend to and no softmax (0/0): its
/// weights are all 0, so its context is 0 and no gradient flows through it — the policy of
/// scaled_dot_product_attention and MultiheadAttention too (docs/attention-backprop.md, "Masks").
Tensor masked_softmax(const Tensor& scores, const Tensor& mask);

/// scores [B, Lq, Lk] → weights = masked_softmax over Lk (mask true = real key) → context = weights ·
/// values [B, Lq, Dv]. `one_step` drops the Lq = 1 dim again from both results (for a query that was
/// [B, Dq]).
AttentionContext attend(const Tensor& scores, const Tensor& values, const Tensor& mask, bool one_step);

}  // namespace focus::nn
