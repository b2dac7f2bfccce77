#pragma once
// MultiheadAttention: PyTorch's nn.MultiheadAttention (Vaswani et al. 2017), on the fused
// scaled_dot_product_attention op.
#include <memory>
#include <string>

#include "nn/layers/linear.h"
#include "nn/module.h"
#include "tensor/generator.h"

namespace focus::nn {

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
/// (and last_attention()) are those before dropout, where PyTorch returns them after dropout.
class MultiheadAttention : public Module {
 public:
  /// kdim, vdim = 0 mean embed_dim. `generator` (optional, not owned) draws the initial parameters and
  /// the dropout masks; the default generator otherwise.
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true, int64_t kdim = 0,
                     int64_t vdim = 0, bool batch_first = false, Generator* generator = nullptr);

  /// Re-draws every parameter from the default initialisation (from `generator`, or the default one).
  void reset_parameters(Generator* generator = nullptr);

  /// Attention of query over key/value (see the class comment for shapes and masks). need_weights = false
  /// leaves `weights` undefined; average_attn_weights averages them over heads.
  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask = {}, const Tensor& attn_mask = {},
                                   bool need_weights = true, bool average_attn_weights = true);
  MultiheadAttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                      const Tensor& key_padding_mask = {}, const Tensor& attn_mask = {},
                                      bool need_weights = true, bool average_attn_weights = true) {
    MultiheadAttentionOutput result =
        forward(query, key, value, key_padding_mask, attn_mask, need_weights, average_attn_weights);
    record_output_shape(result.output.shape());
    return result;
  }

  /// The last forward's per-head weights [N, H, L, S] ([H, L, S] unbatched), before dropout and cut from
  /// the graph, whatever need_weights was: for drawing attention maps.
  const Tensor& last_attention() const { return last_attention_; }

  std::string type_name() const override { return "MultiheadAttention"; }
  std::string extra_repr() const override;

  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  double dropout;
  bool batch_first;
  Tensor in_proj_weight;  ///< [3E, E] when kdim == vdim == embed_dim, else undefined
  Tensor q_proj_weight;   ///< [E, E] when kdim or vdim differ from embed_dim, else undefined
  Tensor k_proj_weight;   ///< [E, kdim], likewise
  Tensor v_proj_weight;   ///< [E, vdim], likewise
  Tensor in_proj_bias;    ///< [3E] (undefined without bias)
  std::shared_ptr<Linear> out_proj;  ///< [E] → [E], registered as "out_proj"
  Generator* generator;

 private:
  Tensor last_attention_;
};

}  // namespace focus::nn
