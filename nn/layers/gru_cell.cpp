#include "nn/layers/gru_cell.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"
#include "nn/functional/gru.h"
#include "nn/init.h"

namespace focus::nn {

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, bool bias, Generator* generator)
    : input_size(input_size), hidden_size(hidden_size), bias(bias) {
  if (input_size <= 0 || hidden_size <= 0)
    throw std::invalid_argument(fmt::format("GRUCell: input_size and hidden_size must be positive, got {} and {}",
                                            input_size, hidden_size));
  weight_ih = register_parameter("weight_ih", empty({3 * hidden_size, input_size}));
  weight_hh = register_parameter("weight_hh", empty({3 * hidden_size, hidden_size}));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({3 * hidden_size}));
    bias_hh = register_parameter("bias_hh", empty({3 * hidden_size}));
  }
  reset_parameters(generator);
}

void GRUCell::reset_parameters(Generator* generator) {
  // PyTorch's reset_parameters for recurrent layers: every parameter U(−1/√H, 1/√H).
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor* p : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
    if (p->defined()) init::uniform_(*p, -bound, bound, generator);
}

std::string GRUCell::extra_repr() const {
  return fmt::format("{}, {}{}", input_size, hidden_size, bias ? "" : ", bias=False");
}

Tensor GRUCell::forward(const Tensor& input, const Tensor& h) {
  const std::string name = fmt::format("GRUCell({})", extra_repr());
  check_defined(input, name.c_str());
  const bool batched = input.dim() == 2;
  if ((input.dim() != 1 && !batched) || input.shape().back() != input_size)
    throw std::invalid_argument(fmt::format("{}: expected input of shape [B, {}] or [{}], got {}", name, input_size,
                                            input_size, shape_str(input.shape())));
  const int64_t B = batched ? input.shape()[0] : 1;
  const Shape state_shape = batched ? Shape{B, hidden_size} : Shape{hidden_size};
  if (h.defined() && h.shape() != state_shape)
    throw std::invalid_argument(fmt::format("{}: h has shape {}, expected {} for input of shape {}", name,
                                            shape_str(h.shape()), shape_str(state_shape), shape_str(input.shape())));
  const Tensor state = h.defined() ? h : zeros(state_shape, TensorOptions(input.dtype()).with_device(input.device()));
  if (batched) return functional::gru_cell(input, state, weight_ih, weight_hh, bias_ih, bias_hh);
  return squeeze(functional::gru_cell(unsqueeze(input, 0), unsqueeze(state, 0), weight_ih, weight_hh, bias_ih,
                                      bias_hh),
                 0);
}

}  // namespace focus::nn
