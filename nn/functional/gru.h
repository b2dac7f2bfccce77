#pragma once
// The GRU as functions (focus::nn::functional): one step and a stacked, optionally
// bidirectional GRU over a whole padded batch, from explicit weights, with PyTorch's
// maths, gate order (r, z, n) and packed-sequence results. The layers in
// nn/layers/gru.h and nn/layers/gru_cell.h hold the weights and call these.
//
// Unlike the LSTM (whose step and whole-sequence layer are fused autograd ops with
// hand-written backwards, autograd/ops/lstm_cell.cpp and lstm_layer.cpp), the GRU is a
// plain composition of differentiable ops (linear, sigmoid, tanh, mul, add, where):
// autograd derives its backward, and float64 gradchecks (tests/nn/test_gru.cpp) and
// PyTorch's numbers check it. It is correct, not fast: each step is about ten nodes.
#include <string>
#include <vector>

#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// The four tensors of one GRU layer in one direction (PyTorch's weight_ih_l{k}[_reverse], ...).
/// Rows are the gates r, z, n in that order, H each.
struct GRUWeights {
  Tensor weight_ih;  ///< [3H, input features of this layer]
  Tensor weight_hh;  ///< [3H, H]
  Tensor bias_ih;    ///< [3H], or undefined for a layer without bias
  Tensor bias_hh;    ///< [3H], or undefined
};

/// One GRU step once the input's share of the gates is known: gates_x = x·W_ihᵀ + b_ih [B, 3H],
/// h [B, H] → h' [B, H]:
///   r = σ(x_r + h·W_hrᵀ + b_hr),  z = σ(x_z + h·W_hzᵀ + b_hz),
///   n = tanh(x_n + r ⊙ (h·W_hnᵀ + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
/// The one place the GRU's maths is written: gru_cell() and gru() both call it.
Tensor gru_step(const Tensor& gates_x, const Tensor& h, const Tensor& weight_hh, const Tensor& bias_hh = {});

/// One GRU step (PyTorch's torch.gru_cell): input [B, I], h [B, H], weight_ih [3H, I], weight_hh
/// [3H, H], biases [3H] (either may be undefined) → h' [B, H]. Throws naming the shapes that disagree.
Tensor gru_cell(const Tensor& input, const Tensor& h, const Tensor& weight_ih, const Tensor& weight_hh,
                const Tensor& bias_ih = {}, const Tensor& bias_hh = {});

/// How gru() runs: the same switches as torch.nn.GRU, plus whether dropout is active.
struct GRUFunctionalOptions {
  bool bidirectional = false;
  /// input and output are [B, T, features] instead of [T, B, features].
  bool batch_first = false;
  /// Dropout probability on each layer's output except the last, applied only when `training`.
  double dropout = 0.0;
  bool training = false;
  /// Source of the dropout masks (the default generator when null).
  Generator* generator = nullptr;
  /// What error messages call the caller (the GRU layer passes its own description).
  std::string name = "gru";
};

/// What a GRU returns: the last layer's output at every step, and every layer's final state.
struct GRUOutput {
  Tensor output;  ///< [T, B, D·H] ([B, T, D·H] when batch_first); zero at padded steps
  Tensor h_n;     ///< [L·D, B, H], ordered layer by layer, forward direction before reverse
};

/// A multi-layer GRU. `weights` holds L·D entries, layer by layer, the forward direction
/// before the reverse one (D = 2 when bidirectional). input [T, B, I] ([B, T, I] batch_first);
/// h0 [L·D, B, H] or undefined for zeros; `lengths` (int64 [B], each in [1, T], or undefined
/// when every sequence is T long) gives the same results as PyTorch's packed sequences: padded
/// steps output zeros and leave the state alone, so h_n holds the states at each sequence's
/// last real step, and the reverse direction starts there. Each layer and direction projects
/// its whole input with one GEMM, then runs gru_step() T times.
GRUOutput gru(const Tensor& input, const std::vector<GRUWeights>& weights, const Tensor& h0 = {},
              const Tensor& lengths = {}, const GRUFunctionalOptions& options = {});

}  // namespace focus::nn::functional
