#pragma once
// GRUCell: one GRU step with its own weights (PyTorch's nn.GRUCell), for loops
// that feed each step's output back in, such as an attention decoder.
#include <string>

#include "nn/module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// One GRU step: h' from input [B, input_size] and state h [B, hidden_size], PyTorch's maths
/// (nn/functional/gru.h: gates r, z, n; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))), with
/// parameters named as in PyTorch: weight_ih [3H, input_size], weight_hh [3H, H], bias_ih and
/// bias_hh [3H]. Unbatched input [input_size] with state [H] works too. Initialised like
/// PyTorch: every parameter U(−1/√H, 1/√H).
class GRUCell : public Module {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true, Generator* generator = nullptr);

  /// Re-draws every parameter from the default initialisation (from `generator`, or the default one).
  void reset_parameters(Generator* generator = nullptr);

  /// h'; an undefined state means zeros.
  Tensor forward(const Tensor& input, const Tensor& h = {});
  Tensor operator()(const Tensor& input, const Tensor& h = {}) {
    Tensor result = forward(input, h);
    record_output_shape(result.shape());
    return result;
  }

  std::string type_name() const override { return "GRUCell"; }
  std::string extra_repr() const override;

  int64_t input_size, hidden_size;
  bool bias;         ///< whether bias_ih and bias_hh exist
  Tensor weight_ih;  ///< [3H, input_size], rows r, z, n
  Tensor weight_hh;  ///< [3H, H]
  Tensor bias_ih;    ///< [3H] (undefined without bias)
  Tensor bias_hh;    ///< [3H] (undefined without bias)
};

}  // namespace focus::nn
