#pragma once
// Recurrent layers as functions (focus::nn::functional): a stacked, optionally
// bidirectional LSTM over a whole padded batch, from explicit weights. The
// layers in nn/layers/lstm.h and nn/layers/lstm_cell.h hold the weights and call these.
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"
#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// One fused LSTM step (the autograd op): (h', c') from input [B, I] and state h, c [B, H].
using focus::lstm_cell;

/// The four tensors of one LSTM layer in one direction (PyTorch's weight_ih_l{k}[_reverse], ...).
struct LSTMWeights {
  Tensor weight_ih;  ///< [4H, input features of this layer]
  Tensor weight_hh;  ///< [4H, H]
  Tensor bias_ih;    ///< [4H], or undefined for a layer without bias
  Tensor bias_hh;    ///< [4H], or undefined
};

/// How lstm() runs: the same switches as torch.nn.LSTM, plus whether dropout is active.
struct LSTMFunctionalOptions {
  bool bidirectional = false;
  /// input and output are [B, T, features] instead of [T, B, features].
  bool batch_first = false;
  /// Dropout probability on each layer's output except the last, applied only when `training`.
  double dropout = 0.0;
  bool training = false;
  /// Source of the dropout masks (the default generator when null).
  Generator* generator = nullptr;
  /// What error messages call the caller (the LSTM layer passes its own description).
  std::string name = "lstm";
};

/// What an LSTM returns: the last layer's output at every step, and every layer's final state.
struct LSTMOutput {
  Tensor output;  ///< [T, B, D·H] ([B, T, D·H] when batch_first); zero at padded steps
  Tensor h_n;     ///< [L·D, B, H], ordered layer by layer, forward direction before reverse
  Tensor c_n;     ///< [L·D, B, H]
};

/// A multi-layer LSTM. `weights` holds L·D entries, layer by layer, the forward
/// direction before the reverse one (D = 2 when bidirectional). input [T, B, I]
/// ([B, T, I] batch_first); h0, c0 [L·D, B, H] or undefined for zeros; `lengths`
/// (int64 [B], each in [1, T], or undefined when every sequence is T long) gives
/// the same results as PyTorch's packed sequences: padded steps output zeros and
/// leave the state alone, so h_n/c_n are the states at each sequence's last real
/// step, and the reverse direction starts there. Each layer and direction is one
/// lstm_layer() op (its input projection for all steps is one GEMM).
LSTMOutput lstm(const Tensor& input, const std::vector<LSTMWeights>& weights, const Tensor& h0 = {},
                const Tensor& c0 = {}, const Tensor& lengths = {}, const LSTMFunctionalOptions& options = {});

}  // namespace focus::nn::functional
