#include "nn/functional/gru.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "autograd/ops.h"
#include "nn/functional/dropout.h"

namespace focus::nn::functional {

namespace {

std::string shape_or_none(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "none"; }

// weight_ih [3H, in_features], weight_hh [3H, H], optional biases [3H], all of `dtype`; `what`
// names the caller and `suffix` the layer ("_l1_reverse", or "" for a cell).
void check_gru_weights(const std::string& what, const std::string& suffix, const GRUWeights& w, int64_t in_features,
                       int64_t H, DType dtype) {
  auto expect = [&](const Tensor& t, const char* name, const Shape& shape, bool optional) {
    if (optional && !t.defined()) return;
    if (!t.defined() || t.shape() != shape)
      throw std::invalid_argument(fmt::format("{}: {}{} has shape {}, expected {}", what, name, suffix,
                                              shape_or_none(t), shape_str(shape)));
    if (t.dtype() != dtype)
      throw std::invalid_argument(fmt::format("{}: {}{} is {}, the input {}", what, name, suffix,
                                              dtype_name(t.dtype()), dtype_name(dtype)));
  };
  expect(w.weight_ih, "weight_ih", {3 * H, in_features}, false);
  expect(w.weight_hh, "weight_hh", {3 * H, H}, false);
  expect(w.bias_ih, "bias_ih", {3 * H}, true);
  expect(w.bias_hh, "bias_hh", {3 * H}, true);
}

// Every check a GRU needs, with the caller's name in each message; returns H.
int64_t check_gru_args(const Tensor& input, const std::vector<GRUWeights>& weights, const Tensor& h0,
                       const Tensor& lengths, const GRUFunctionalOptions& options) {
  const std::string& name = options.name;
  const int64_t directions = options.bidirectional ? 2 : 1;
  if (weights.empty() || weights.size() % directions != 0)
    throw std::invalid_argument(fmt::format("{}: expected weights for num_layers × {} directions, got {} entries",
                                            name, directions, weights.size()));
  const int64_t num_layers = static_cast<int64_t>(weights.size()) / directions;
  check_defined(weights[0].weight_hh, name.c_str());
  if (weights[0].weight_hh.dim() != 2)
    throw std::invalid_argument(fmt::format("{}: expected weight_hh of shape [3H, H], got {}", name,
                                            shape_str(weights[0].weight_hh.shape())));
  const int64_t H = weights[0].weight_hh.shape()[1];

  check_defined(input, name.c_str());
  const char* layout = options.batch_first ? "[B, T, features]" : "[T, B, features]";
  if (input.dim() != 3)
    throw std::invalid_argument(
        fmt::format("{}: expected input of shape {}, got {}", name, layout, shape_str(input.shape())));
  if (!is_floating(input.dtype()))
    throw std::invalid_argument(
        fmt::format("{}: expected a float32 or float64 input, got {}", name, dtype_name(input.dtype())));
  const int64_t T = input.shape()[options.batch_first ? 1 : 0], B = input.shape()[options.batch_first ? 0 : 1];
  if (T == 0 || B == 0)
    throw std::invalid_argument(fmt::format("{}: expected a non-empty sequence and batch, got input of shape {} {}",
                                            name, shape_str(input.shape()), layout));

  for (int64_t layer = 0; layer < num_layers; ++layer) {
    const int64_t in_features = layer == 0 ? input.shape()[2] : directions * H;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const GRUWeights& w = weights[static_cast<size_t>(layer * directions + direction)];
      if (layer == 0 && w.weight_ih.defined() && w.weight_ih.dim() == 2 && w.weight_ih.shape()[1] != in_features)
        throw std::invalid_argument(fmt::format("{}: input of shape {} has {} features, expected {}", name,
                                                shape_str(input.shape()), in_features, w.weight_ih.shape()[1]));
      check_gru_weights(name, fmt::format("_l{}{}", layer, direction == 1 ? "_reverse" : ""), w, in_features, H,
                        input.dtype());
    }
  }

  const Shape state_shape{num_layers * directions, B, H};
  if (h0.defined()) {
    if (h0.shape() != state_shape)
      throw std::invalid_argument(fmt::format(
          "{}: h0 has shape {}, expected [num_layers × directions, B, H] = {} for input of shape {}", name,
          shape_str(h0.shape()), shape_str(state_shape), shape_str(input.shape())));
    if (h0.dtype() != input.dtype())
      throw std::invalid_argument(
          fmt::format("{}: h0 is {}, the input {}", name, dtype_name(h0.dtype()), dtype_name(input.dtype())));
  }

  if (lengths.defined()) {
    if (lengths.dtype() != kInt64 || lengths.shape() != Shape{B})
      throw std::invalid_argument(fmt::format("{}: expected lengths to be an int64 tensor of shape [{}] (the batch), "
                                              "got {} {}",
                                              name, B, dtype_name(lengths.dtype()), shape_str(lengths.shape())));
    for (int64_t length : lengths.to_vector<int64_t>())
      if (length < 1 || length > T)
        throw std::invalid_argument(fmt::format("{}: lengths must be in [1, {}] (T of the input of shape {}), got {}",
                                                name, T, shape_str(input.shape()), length));
  }
  return H;
}

// One layer in one direction over the whole time-major input [T, B, F] → (output [T, B, H], h_n [B, H]).
// `valid` (bool [T, B, 1], or undefined when no sequence is padded) says which steps are real;
// steps before `first_padded_step` are real for every sequence and need no blending.
std::pair<Tensor, Tensor> gru_direction(const Tensor& input, Tensor h, const GRUWeights& w, const Tensor& valid,
                                        int64_t first_padded_step, bool reverse) {
  const int64_t T = input.size(0);
  const Tensor gates_x = linear(input, w.weight_ih, w.bias_ih);  // all T steps in one GEMM: [T, B, 3H]
  const Tensor zero = zeros({1}, TensorOptions(input.dtype()).with_device(input.device()));
  std::vector<Tensor> outputs(static_cast<size_t>(T));
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = reverse ? T - 1 - step : step;
    Tensor h_new = gru_step(select(gates_x, 0, t), h, w.weight_hh, w.bias_hh);
    if (valid.defined() && t >= first_padded_step) {
      // Packed-sequence semantics: a finished sequence outputs 0 and keeps its state. where()
      // sends no gradient into the discarded branch, so padding is never read.
      const Tensor real = select(valid, 0, t);  // [B, 1]
      outputs[static_cast<size_t>(t)] = where(real, h_new, zero);
      h = where(real, h_new, h);
    } else {
      outputs[static_cast<size_t>(t)] = h_new;
      h = h_new;
    }
  }
  return {stack(outputs, 0), h};
}

}  // namespace

Tensor gru_step(const Tensor& gates_x, const Tensor& h, const Tensor& weight_hh, const Tensor& bias_hh) {
  const int64_t H = h.size(1);
  const Tensor gates_h = linear(h, weight_hh, bias_hh);  // [B, 3H]
  // r and z read the sum of both projections; do both gates with one sigmoid.
  const Tensor reset_update = sigmoid(add(narrow(gates_x, 1, 0, 2 * H), narrow(gates_h, 1, 0, 2 * H)));
  const Tensor reset = narrow(reset_update, 1, 0, H), update = narrow(reset_update, 1, H, H);
  // The reset gate scales only the state's share of the candidate, PyTorch's (and cuDNN's) form.
  const Tensor candidate = tanh(add(narrow(gates_x, 1, 2 * H, H), mul(reset, narrow(gates_h, 1, 2 * H, H))));
  // (1 − z) ⊙ n + z ⊙ h, written as n + z ⊙ (h − n): one node fewer.
  return add(candidate, mul(update, sub(h, candidate)));
}

Tensor gru_cell(const Tensor& input, const Tensor& h, const Tensor& weight_ih, const Tensor& weight_hh,
                const Tensor& bias_ih, const Tensor& bias_hh) {
  check_defined(input, "gru_cell");
  check_defined(h, "gru_cell");
  if (input.dim() != 2)
    throw std::invalid_argument(fmt::format("gru_cell: expected input [B, I], got input {}", shape_str(input.shape())));
  if (h.dim() != 2 || h.size(0) != input.size(0))
    throw std::invalid_argument(fmt::format("gru_cell: expected h [B, H] with B = {} of input {}, got h {}",
                                            input.size(0), shape_str(input.shape()), shape_str(h.shape())));
  if (h.dtype() != input.dtype())
    throw std::invalid_argument(
        fmt::format("gru_cell: h is {}, the input {}", dtype_name(h.dtype()), dtype_name(input.dtype())));
  check_gru_weights("gru_cell", "", {weight_ih, weight_hh, bias_ih, bias_hh}, input.size(1), h.size(1),
                    input.dtype());
  return gru_step(linear(input, weight_ih, bias_ih), h, weight_hh, bias_hh);
}

GRUOutput gru(const Tensor& input, const std::vector<GRUWeights>& weights, const Tensor& h0, const Tensor& lengths,
              const GRUFunctionalOptions& options) {
  const int64_t H = check_gru_args(input, weights, h0, lengths, options);
  const int64_t directions = options.bidirectional ? 2 : 1;
  const int64_t num_layers = static_cast<int64_t>(weights.size()) / directions;
  const int64_t B = input.shape()[options.batch_first ? 0 : 1], T = input.shape()[options.batch_first ? 1 : 0];
  const TensorOptions state_options = TensorOptions(input.dtype()).with_device(input.device());

  // valid[t, b] = t < lengths[b], made once for every layer; no mask at all when nothing is padded.
  Tensor valid;
  int64_t first_padded_step = T;
  if (lengths.defined()) {
    const std::vector<int64_t> length_list = lengths.to_vector<int64_t>();
    first_padded_step = *std::min_element(length_list.begin(), length_list.end());
    if (first_padded_step < T) {
      valid = lt(reshape(arange(T), {T, 1, 1}), reshape(from_vector(length_list, {B}), {1, B, 1}));
      if (valid.device() != input.device()) valid = to_device(valid, input.device());
    }
  }

  // Layers run time-major [T, B, features].
  Tensor layer_input = options.batch_first ? transpose(input, 0, 1) : input;
  std::vector<Tensor> h_n;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const int64_t index = layer * directions + direction;
      const Tensor h = h0.defined() ? select(h0, 0, index) : zeros({B, H}, state_options);
      auto [output, h_last] = gru_direction(layer_input, h, weights[static_cast<size_t>(index)], valid,
                                            first_padded_step, direction == 1);
      outputs.push_back(output);
      h_n.push_back(h_last);
    }
    layer_input = directions == 2 ? cat(outputs, 2) : outputs[0];
    if (layer + 1 < num_layers && options.dropout > 0 && options.training)
      layer_input = dropout(layer_input, options.dropout, true, options.generator);
  }
  Tensor output = options.batch_first ? transpose(layer_input, 0, 1) : layer_input;
  return {output, stack(h_n, 0)};
}

}  // namespace focus::nn::functional
