#pragma once
// MultiheadAttention: PyTorch's nn.MultiheadAttention (Vaswani et al. 2017), on the fused
// scaled_dot_product_attention op.
#include <memory>
#include <string>

#include "nn/layers/linear.h"
#include "nn/module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// MultiheadAttention's arguments with PyTorch's names and defaults, as chained setters:
/// `MultiheadAttentionOptions(256, 8).dropout(0.1).batch_first(true)`, `.kdim(64).vdim(32)`, `.bias(false)`.
/// kdim and vdim default to embed_dim, as in PyTorch.
class MultiheadAttentionOptions {
 public:
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads), kdim_(embed_dim), vdim_(embed_dim) {}

  /// Dropout on the attention weights, in training mode only (masks from the default generator).
  MultiheadAttentionOptions& dropout(double p) { dropout_ = p; return *this; }
  /// Biases on the input and output projections.
  MultiheadAttentionOptions& bias(bool on) { bias_ = on; return *this; }
  /// Features of key (and value) when they differ from embed_dim.
  MultiheadAttentionOptions& kdim(int64_t d) { kdim_ = d; return *this; }
  MultiheadAttentionOptions& vdim(int64_t d) { vdim_ = d; return *this; }
  /// Inputs and output are [N, L, E] instead of [L, N, E] (PyTorch's Python option; weights are unaffected).
  MultiheadAttentionOptions& batch_first(bool on) { batch_first_ = on; return *this; }

  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }
  double dropout() const { return dropout_; }
  bool bias() const { return bias_; }
  int64_t kdim() const { return kdim_; }
  int64_t vdim() const { return vdim_; }
  bool batch_first() const { return batch_first_; }

 private:
  int64_t embed_dim_, num_heads_, kdim_, vdim_;
  double dropout_ = 0.0;
  bool bias_ = true;
  bool batch_first_ = false;
};

/// What MultiheadAttention returns (structured binding: `auto [y, w] = mha(q, k, v);`).
struct MultiheadAttentionOutput {
  Tensor output;   ///< [L, N, E] ([N, L, E] with batch_first; [L, E] for unbatched input)
  Tensor weights;  ///< [N, L, S] averaged over heads, or [N, H, L, S] per head; undefined if not asked for
};

/// Multi-head attention: each of H heads attends with its own slice of head_dim = E/H features,
///   head_h = softmax(Q_h·K_hᵀ/√head_dim + masks)·V_h,   Q = query·W_qᵀ + b_q (K, V likewise),
///   output = concat(head_1 … head_H)·W_outᵀ + b_out.
///
/// Shapes (PyTorch's): query [L, N, E], key [S, N, kdim], value [S, N, vdim], or [N, L, E] … with
/// batch_first, or unbatched [L, E], [S, kdim], [S, vdim].
///
/// MASKS FOLLOW nn.MultiheadAttention: a bool mask is **true where attention is NOT allowed** — the
/// opposite of scaled_dot_product_attention's bool mask (true = may attend), exactly as in PyTorch.
///  - key_padding_mask [N, S] ([S] unbatched): true marks a PADDED key no query may attend to; a float
///    one is added to the scores.
///  - attn_mask [L, S] (shared by the batch and heads) or [N·H, L, S] (per batch entry and head, n·H + h);
///    true = not allowed, or float, added to the scores.
/// A query whose every key is masked gets zero weights and an output of out_proj.bias (PyTorch gives NaN).
///
/// Parameters are named and initialised like PyTorch's: when kdim == vdim == embed_dim, in_proj_weight
/// [3E, E] (rows W_q, W_k, W_v) with xavier_uniform_; otherwise q_proj_weight [E, E], k_proj_weight
/// [E, kdim], v_proj_weight [E, vdim], each xavier_uniform_; in_proj_bias [3E] zeros; out_proj a Linear
/// (out_proj.weight with Linear's default init, out_proj.bias zeros).
///
/// Dropout (training mode only) drops attention weights before they multiply V; the weights returned
/// (and last_attention()) are those before dropout, where PyTorch returns them after dropout. The masks
/// come from the default generator, as a PyTorch module's do from the global one: seed it with
/// focus::manual_seed for a repeatable run. The layer keeps no generator of its own, so it can never
/// point at one that is gone.
class MultiheadAttention : public Module {
 public:
  /// `generator` (optional, not owned, not kept) draws the initial parameters; the default generator otherwise.
  explicit MultiheadAttention(const MultiheadAttentionOptions& options, Generator* generator = nullptr);
  MultiheadAttention(int64_t embed_dim, int64_t num_heads)
      : MultiheadAttention(MultiheadAttentionOptions(embed_dim, num_heads)) {}

  /// Re-draws every parameter from the default initialisation (from `generator`, or the default one).
  void reset_parameters(Generator* generator = nullptr);

  /// Attention of query over key/value (see the class comment for shapes and masks), arguments in
  /// PyTorch C++'s order. need_weights = false leaves `weights` undefined; average_attn_weights
  /// averages them over heads.
  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask = {}, bool need_weights = true,
                                   const Tensor& attn_mask = {}, bool average_attn_weights = true);
  MultiheadAttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                      const Tensor& key_padding_mask = {}, bool need_weights = true,
                                      const Tensor& attn_mask = {}, bool average_attn_weights = true) {
    MultiheadAttentionOutput result =
        forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights);
    record_output_shape(result.output.shape());
    return result;
  }

  /// The last forward's per-head weights [N, H, L, S] ([H, L, S] unbatched), before dropout and cut from
  /// the graph, whatever need_weights was: for drawing attention maps.
  const Tensor& last_attention() const { return last_attention_; }

  std::string type_name() const override { return "MultiheadAttention"; }
  std::string extra_repr() const override;

  MultiheadAttentionOptions options;
  int64_t head_dim;       ///< embed_dim / num_heads
  Tensor in_proj_weight;  ///< [3E, E] when kdim == vdim == embed_dim, else undefined
  Tensor q_proj_weight;   ///< [E, E] when kdim or vdim differ from embed_dim, else undefined
  Tensor k_proj_weight;   ///< [E, kdim], likewise
  Tensor v_proj_weight;   ///< [E, vdim], likewise
  Tensor in_proj_bias;    ///< [3E] (undefined without bias)
  std::shared_ptr<Linear> out_proj;  ///< [E] → [E], registered as "out_proj"

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
