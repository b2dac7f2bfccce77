#pragma once
// LSTMCell: one LSTM step with its own weights (PyTorch's nn.LSTMCell), for
// loops that feed each step's output back in, such as an attention decoder.
#include <optional>
#include <string>
#include <utility>

#include "nn/module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// One LSTM step: (h', c') from input [B, input_size] and state (h, c) [B, hidden_size],
/// with parameters named as in PyTorch: weight_ih [4H, input_size], weight_hh [4H, H],
/// bias_ih and bias_hh [4H] (gate order i, f, g, o). Unbatched input [input_size] with
/// state [H] works too. Initialised like PyTorch: every parameter U(−1/√H, 1/√H).
class LSTMCell : public Module {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true, Generator* generator = nullptr);

  /// Re-draws every parameter from the default initialisation (from `generator`, or the default one).
  void reset_parameters(Generator* generator = nullptr);

  /// (h', c'); the state defaults to zeros.
  std::pair<Tensor, Tensor> forward(const Tensor& input,
                                    const std::optional<std::pair<Tensor, Tensor>>& state = std::nullopt);
  std::pair<Tensor, Tensor> operator()(const Tensor& input,
                                       const std::optional<std::pair<Tensor, Tensor>>& state = std::nullopt) {
    auto result = forward(input, state);
    record_output_shape(result.first.shape());
    return result;
  }

  std::string type_name() const override { return "LSTMCell"; }
  std::string extra_repr() const override;

  int64_t input_size, hidden_size;
  bool bias;         ///< whether bias_ih and bias_hh exist
  Tensor weight_ih;  ///< [4H, input_size]
  Tensor weight_hh;  ///< [4H, H]
  Tensor bias_ih;    ///< [4H] (undefined without bias)
  Tensor bias_hh;    ///< [4H] (undefined without bias)
};

}  // namespace focus::nn
