#pragma once
// GRU: a stacked, optionally bidirectional gated recurrent unit over whole sequences
// (PyTorch's nn.GRU), with variable-length (padded) batches given by a lengths tensor.
// Built from differentiable ops (nn/functional/gru.h), not a fused kernel as the LSTM is.
#include <string>
#include <vector>

#include "nn/functional/gru.h"
#include "nn/module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// Options of a GRU, PyTorch's names and defaults, with chained setters:
/// `GRUOptions(256, 512).num_layers(2).bidirectional(true).dropout(0.1)`.
struct GRUOptions {
  GRUOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}

  GRUOptions& num_layers(int64_t n) { num_layers_ = n; return *this; }
  GRUOptions& bias(bool on) { bias_ = on; return *this; }
  /// Input and output are [B, T, features] instead of [T, B, features] (the state stays [L·D, B, H]).
  GRUOptions& batch_first(bool on) { batch_first_ = on; return *this; }
  /// Dropout on the outputs of every layer but the last, in training mode only.
  GRUOptions& dropout(double p) { dropout_ = p; return *this; }
  GRUOptions& bidirectional(bool on) { bidirectional_ = on; return *this; }

  int64_t input_size() const { return input_size_; }
  int64_t hidden_size() const { return hidden_size_; }
  int64_t num_layers() const { return num_layers_; }
  bool bias() const { return bias_; }
  bool batch_first() const { return batch_first_; }
  double dropout() const { return dropout_; }
  bool bidirectional() const { return bidirectional_; }

 private:
  int64_t input_size_, hidden_size_;
  int64_t num_layers_ = 1;
  bool bias_ = true;
  bool batch_first_ = false;
  double dropout_ = 0.0;
  bool bidirectional_ = false;
};

/// A multi-layer GRU. forward(input [T, B, input_size] (or [B, T, ·] batch_first), optional
/// h0 [num_layers·D, B, H], optional lengths int64 [B]) returns output [T, B, D·H] and h_n
/// [num_layers·D, B, H], D = 2 when bidirectional. Each step, as PyTorch:
///   r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz),
///   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
/// With lengths, results equal PyTorch's packed sequences: padded steps output zeros and do
/// not touch the state, so h_n is the state at each sequence's last real step. Parameters are
/// named as in PyTorch — weight_ih_l0 [3H, input_size] (rows r, z, n), weight_hh_l0 [3H, H],
/// bias_ih_l0, bias_hh_l0 [3H], "_reverse" for the backward direction, layer k > 0 reading
/// D·H features — and initialised like PyTorch: all U(−1/√H, 1/√H).
class GRU : public Module {
 public:
  explicit GRU(const GRUOptions& options, Generator* generator = nullptr);
  GRU(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1)
      : GRU(GRUOptions(input_size, hidden_size).num_layers(num_layers)) {}

  /// Re-draws every parameter from the default initialisation (from `generator`, or the default one).
  void reset_parameters(Generator* generator = nullptr);

  /// output and h_n (structured binding: `auto [y, h] = gru(x);`); h0 undefined means zeros.
  functional::GRUOutput forward(const Tensor& input, const Tensor& h0 = {}, const Tensor& lengths = {});
  functional::GRUOutput operator()(const Tensor& input, const Tensor& h0 = {}, const Tensor& lengths = {}) {
    functional::GRUOutput result = forward(input, h0, lengths);
    record_output_shape(result.output.shape());
    return result;
  }

  std::string type_name() const override { return "GRU"; }
  std::string extra_repr() const override;

  const GRUOptions& options() const { return options_; }
  /// The parameters of one layer and direction (0 forward, 1 reverse).
  const functional::GRUWeights& weights(int64_t layer, int64_t direction = 0) const;

 private:
  GRUOptions options_;
  std::vector<functional::GRUWeights> weights_;  // layer by layer, forward before reverse
};

}  // namespace focus::nn
