#pragma once
// AttentionPooling: the simplest attention. A learned vector scores every
// position; a softmax over positions turns scores into weights; the output is
// the weighted sum. A classifier head over sequences or feature maps.
#include "nn/module.h"

namespace focus::nn {

/// Output of AttentionPooling: the pooled vector and the weights used.
struct AttentionPoolingOutput {
  Tensor pooled;   ///< [N, D]
  Tensor weights;  ///< [N, L], rows sum to 1 (0 at masked positions)
};

/// x [N, L, D] (a sequence, or a feature map flattened to L = H·W positions) →
/// scores s = x·w + b [N, L] → weights a = softmax(s) over L → pooled Σ_l a_l x_l [N, D].
/// An optional bool mask [N, L] (true = a real position) keeps padding out.
class AttentionPooling : public Module {
 public:
  explicit AttentionPooling(int64_t dim);

  AttentionPoolingOutput forward(const Tensor& input, const Tensor& mask = {});
  AttentionPoolingOutput operator()(const Tensor& input, const Tensor& mask = {});
  std::string type_name() const override { return "AttentionPooling"; }
  std::string extra_repr() const override;

  /// The weights of the last forward, [N, L] (detached).
  const Tensor& last_attention() const { return last_attention_; }

  int64_t dim;
  Tensor score_weight;  ///< [D]
  Tensor score_bias;    ///< [1]

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
