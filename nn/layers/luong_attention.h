#pragma once
// LuongAttention: the three scores of Luong et al. (2015), "Effective Approaches to
// Attention-based Neural Machine Translation": dot, general and concat.
#include <cstdint>
#include <memory>
#include <string>

#include "nn/layers/attention_context.h"
#include "nn/layers/linear.h"
#include "nn/module.h"

namespace focus::nn {

/// How LuongAttention scores a query q against a key k.
enum class LuongScore {
  Dot,      ///< qᵀ k (needs Dq == Dk; no parameters)
  General,  ///< qᵀ W k, W [Dq, Dk]
  Concat,   ///< vᵀ tanh(W [q; k]), W [H, Dq + Dk], v [H] — Bahdanau's score with one W over [q; k]
};

/// score → weights = softmax over the keys → context = Σ_j w_j u_j. Shapes, masks and results as
/// AdditiveAttention's: query [B, Dq] or [B, Lq, Dq], keys [B, Lk, Dk], values [B, Lk, Dv], mask bool
/// [B, Lk] (true = real position; masked positions get exactly zero weight and gradient; a row with no
/// real position is an error) → {context [B, Dv] or [B, Lq, Dv], weights [B, Lk] or [B, Lq, Lk]}.
///
/// Parameters: `general`: linear (Linear key_dim → query_dim, no bias: linear(k) = W k); `concat`: linear
/// (Linear query_dim + key_dim → hidden_dim, no bias) and v [hidden_dim] U(−1/√hidden_dim, 1/√hidden_dim);
/// Linear's default init. hidden_dim (concat only) defaults to query_dim.
class LuongAttention : public Module {
 public:
  LuongAttention(int64_t query_dim, int64_t key_dim, LuongScore score = LuongScore::General, int64_t hidden_dim = 0);

  /// Attention of query over keys/values (shapes in the class comment).
  AttentionContext forward(const Tensor& query, const Tensor& keys, const Tensor& values, const Tensor& mask = {});
  /// forward(), remembering the context's shape for summary().
  AttentionContext operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                              const Tensor& mask = {});

  std::string type_name() const override { return "LuongAttention"; }
  std::string extra_repr() const override;

  /// The weights of the last forward, [B, Lk] or [B, Lq, Lk] (detached), for heat maps.
  const Tensor& last_attention() const { return last_attention_; }

  int64_t query_dim, key_dim, hidden_dim;  ///< hidden_dim is 0 unless score is Concat
  LuongScore score;
  std::shared_ptr<Linear> linear;  ///< null for Dot
  Tensor v;                        ///< [hidden_dim] for Concat, undefined otherwise

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
