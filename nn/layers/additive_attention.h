#pragma once
// AdditiveAttention: Bahdanau et al. (2015)'s attention for encoder-decoder models.
// A small network with one tanh layer scores a decoder state against every encoder output.
#include <cstdint>
#include <memory>
#include <string>

#include "nn/layers/attention_context.h"
#include "nn/layers/linear.h"
#include "nn/module.h"

namespace focus::nn {

/// score(q, k_j) = vᵀ tanh(W_q q + W_k k_j + b_k) → weights = softmax over j → context = Σ_j w_j u_j.
///
/// Shapes: query [B, Dq] (one decoder step) or [B, Lq, Dq]; keys [B, Lk, Dk]; values [B, Lk, Dv] (often
/// the keys themselves); mask bool [B, Lk], true = a real (not padded) source position. Masked positions
/// get exactly zero weight and zero gradient; a row with no real position is an error. Returns
/// {context [B, Dv] or [B, Lq, Dv], weights [B, Lk] or [B, Lq, Lk]}.
///
/// W_k k_j does not depend on the decoder step: a decoder calls project_keys() once per sentence and
/// forward_projected() at every step, saving a [Lk, Dk]·[Dk, H] product per step.
///
/// Parameters: query_proj (Linear query_dim → hidden_dim, no bias), key_proj (Linear key_dim → hidden_dim,
/// with the bias b_k), both with Linear's default init; v [hidden_dim] U(−1/√hidden_dim, 1/√hidden_dim),
/// like the weight of a Linear(hidden_dim, 1).
class AdditiveAttention : public Module {
 public:
  AdditiveAttention(int64_t query_dim, int64_t key_dim, int64_t hidden_dim);

  /// Attention of query over keys/values (shapes in the class comment).
  AttentionContext forward(const Tensor& query, const Tensor& keys, const Tensor& values, const Tensor& mask = {});
  /// forward(), remembering the context's shape for summary().
  AttentionContext operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                              const Tensor& mask = {});

  /// W_k k_j + b_k for every key: keys [B, Lk, Dk] → [B, Lk, hidden_dim]. Compute once, attend many times.
  Tensor project_keys(const Tensor& keys);
  /// forward() with the keys already through project_keys(); same result, one projection less per call.
  AttentionContext forward_projected(const Tensor& query, const Tensor& projected_keys, const Tensor& values,
                                     const Tensor& mask = {});

  std::string type_name() const override { return "AdditiveAttention"; }
  std::string extra_repr() const override;

  /// The weights of the last forward, [B, Lk] or [B, Lq, Lk] (detached), for heat maps.
  const Tensor& last_attention() const { return last_attention_; }

  int64_t query_dim, key_dim, hidden_dim;
  std::shared_ptr<Linear> query_proj;
  std::shared_ptr<Linear> key_proj;
  Tensor v;  ///< [hidden_dim]

 private:
  /// forward_projected() after the checks.
  AttentionContext attend_projected(const Tensor& query, const Tensor& projected_keys, const Tensor& values,
                                    const Tensor& mask);
  Tensor last_attention_;
};

}  // namespace focus::nn
