#include "nn/layers/lstm_cell.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <tuple>

#include "autograd/ops.h"
#include "nn/init.h"

namespace focus::nn {

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, bool bias, Generator* generator)
    : input_size(input_size), hidden_size(hidden_size), bias(bias) {
  if (input_size <= 0 || hidden_size <= 0)
    throw std::invalid_argument(fmt::format("LSTMCell: input_size and hidden_size must be positive, got {} and {}",
                                            input_size, hidden_size));
  weight_ih = register_parameter("weight_ih", empty({4 * hidden_size, input_size}));
  weight_hh = register_parameter("weight_hh", empty({4 * hidden_size, hidden_size}));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({4 * hidden_size}));
    bias_hh = register_parameter("bias_hh", empty({4 * hidden_size}));
  }
  reset_parameters(generator);
}

void LSTMCell::reset_parameters(Generator* generator) {
  // PyTorch's reset_parameters for recurrent layers: every parameter U(−1/√H, 1/√H).
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor* p : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
    if (p->defined()) init::uniform_(*p, -bound, bound, generator);
}

std::string LSTMCell::extra_repr() const {
  return fmt::format("{}, {}{}", input_size, hidden_size, bias ? "" : ", bias=False");
}

std::pair<Tensor, Tensor> LSTMCell::forward(const Tensor& input,
                                            const std::optional<std::pair<Tensor, Tensor>>& state) {
  const std::string name = fmt::format("LSTMCell({})", extra_repr());
  check_defined(input, name.c_str());
  const bool batched = input.dim() == 2;
  if ((input.dim() != 1 && !batched) || input.shape().back() != input_size)
    throw std::invalid_argument(fmt::format("{}: expected input of shape [B, {}] or [{}], got {}", name, input_size,
                                            input_size, shape_str(input.shape())));
  const int64_t B = batched ? input.shape()[0] : 1;
  const Shape state_shape = batched ? Shape{B, hidden_size} : Shape{hidden_size};
  Tensor h, c;
  if (state) {
    std::tie(h, c) = *state;
    for (const auto& [t, what] : {std::pair{&h, "h"}, std::pair{&c, "c"}}) {
      check_defined(*t, name.c_str());
      if (t->shape() != state_shape)
        throw std::invalid_argument(fmt::format("{}: {} has shape {}, expected {} for input of shape {}", name, what,
                                                shape_str(t->shape()), shape_str(state_shape),
                                                shape_str(input.shape())));
    }
  } else {
    h = c = zeros(state_shape, TensorOptions(input.dtype()));
  }
  if (batched) return lstm_cell(input, h, c, weight_ih, weight_hh, bias_ih, bias_hh);
  auto [h_new, c_new] = lstm_cell(unsqueeze(input, 0), unsqueeze(h, 0), unsqueeze(c, 0), weight_ih, weight_hh,
                                  bias_ih, bias_hh);
  return {squeeze(h_new, 0), squeeze(c_new, 0)};
}

}  // namespace focus::nn
