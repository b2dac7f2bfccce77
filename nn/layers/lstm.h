#pragma once
// LSTM: a stacked, optionally bidirectional LSTM over whole sequences (PyTorch's
// nn.LSTM), with variable-length (padded) batches given by a lengths tensor.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/functional/recurrent.h"
#include "nn/module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// Options of an LSTM, PyTorch's names and defaults, with chained setters:
/// `LSTMOptions(256, 512).num_layers(2).bidirectional(true).dropout(0.1)`.
struct LSTMOptions {
  LSTMOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}

  LSTMOptions& num_layers(int64_t n) { num_layers_ = n; return *this; }
  LSTMOptions& bias(bool on) { bias_ = on; return *this; }
  /// Input and output are [B, T, features] instead of [T, B, features] (states stay [L·D, B, H]).
  LSTMOptions& batch_first(bool on) { batch_first_ = on; return *this; }
  /// Dropout on the outputs of every layer but the last, in training mode only.
  LSTMOptions& dropout(double p) { dropout_ = p; return *this; }
  LSTMOptions& bidirectional(bool on) { bidirectional_ = on; return *this; }

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

/// A multi-layer LSTM. forward(input [T, B, input_size] (or [B, T, ·] batch_first),
/// optional (h0, c0) each [num_layers·D, B, H], optional lengths int64 [B]) returns
/// output [T, B, D·H] and (h_n, c_n) [num_layers·D, B, H], D = 2 when bidirectional.
/// With lengths, results equal PyTorch's packed sequences: padded steps output zeros and
/// do not touch the state, so h_n/c_n are the states at each sequence's last real step.
/// Parameters are named as in PyTorch — weight_ih_l0 [4H, input_size], weight_hh_l0
/// [4H, H], bias_ih_l0, bias_hh_l0 [4H], "_reverse" for the backward direction, layer k > 0
/// reading D·H features — and initialised like PyTorch: all U(−1/√H, 1/√H).
class LSTM : public Module {
 public:
  explicit LSTM(const LSTMOptions& options, Generator* generator = nullptr);
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1)
      : LSTM(LSTMOptions(input_size, hidden_size).num_layers(num_layers)) {}

  /// Re-draws every parameter from the default initialisation (from `generator`, or the default one).
  void reset_parameters(Generator* generator = nullptr);

  /// output, h_n and c_n (structured binding: `auto [y, h, c] = lstm(x);`).
  functional::LSTMOutput forward(const Tensor& input,
                                 const std::optional<std::pair<Tensor, Tensor>>& state = std::nullopt,
                                 const Tensor& lengths = {});
  functional::LSTMOutput operator()(const Tensor& input,
                                    const std::optional<std::pair<Tensor, Tensor>>& state = std::nullopt,
                                    const Tensor& lengths = {}) {
    functional::LSTMOutput result = forward(input, state, lengths);
    record_output_shape(result.output.shape());
    return result;
  }

  std::string type_name() const override { return "LSTM"; }
  std::string extra_repr() const override;

  const LSTMOptions& options() const { return options_; }
  /// The parameters of one layer and direction (0 forward, 1 reverse).
  const functional::LSTMWeights& weights(int64_t layer, int64_t direction = 0) const;

 private:
  LSTMOptions options_;
  std::vector<functional::LSTMWeights> weights_;  // layer by layer, forward before reverse
};

}  // namespace focus::nn
