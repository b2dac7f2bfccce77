#include "nn/functional/recurrent.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/dropout.h"

namespace focus::nn::functional {

namespace {

std::string shape_or_none(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "none"; }

// Every check an LSTM needs, with the caller's name in each message; returns H.
int64_t check_lstm_args(const Tensor& input, const std::vector<LSTMWeights>& weights, const Tensor& h0,
                        const Tensor& c0, const Tensor& lengths, const LSTMFunctionalOptions& options) {
  const std::string& name = options.name;
  const int64_t directions = options.bidirectional ? 2 : 1;
  if (weights.empty() || weights.size() % directions != 0)
    throw std::invalid_argument(fmt::format("{}: expected weights for num_layers × {} directions, got {} entries",
                                            name, directions, weights.size()));
  const int64_t num_layers = static_cast<int64_t>(weights.size()) / directions;
  check_defined(weights[0].weight_hh, name.c_str());
  if (weights[0].weight_hh.dim() != 2)
    throw std::invalid_argument(fmt::format("{}: expected weight_hh of shape [4H, H], got {}", name,
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
    throw std::invalid_argument(
        fmt::format("{}: expected a non-empty sequence and batch, got input of shape {} {}", name,
                    shape_str(input.shape()), layout));

  for (int64_t layer = 0; layer < num_layers; ++layer) {
    const int64_t in_features = layer == 0 ? input.shape()[2] : directions * H;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const LSTMWeights& w = weights[layer * directions + direction];
      const std::string suffix = fmt::format("_l{}{}", layer, direction == 1 ? "_reverse" : "");
      auto expect = [&](const Tensor& t, const char* what, const Shape& shape, bool optional) {
        if (optional && !t.defined()) return;
        if (!t.defined() || t.shape() != shape)
          throw std::invalid_argument(fmt::format("{}: {}{} has shape {}, expected {}", name, what, suffix,
                                                  shape_or_none(t), shape_str(shape)));
        if (t.dtype() != input.dtype())
          throw std::invalid_argument(fmt::format("{}: {}{} is {}, the input {}", name, what, suffix,
                                                  dtype_name(t.dtype()), dtype_name(input.dtype())));
      };
      if (layer == 0 && w.weight_ih.defined() && w.weight_ih.dim() == 2 && w.weight_ih.shape()[1] != in_features)
        throw std::invalid_argument(fmt::format("{}: input of shape {} has {} features, expected {}", name,
                                                shape_str(input.shape()), in_features, w.weight_ih.shape()[1]));
      expect(w.weight_ih, "weight_ih", {4 * H, in_features}, false);
      expect(w.weight_hh, "weight_hh", {4 * H, H}, false);
      expect(w.bias_ih, "bias_ih", {4 * H}, true);
      expect(w.bias_hh, "bias_hh", {4 * H}, true);
    }
  }

  const Shape state_shape{num_layers * directions, B, H};
  for (const auto& [state, what] : {std::pair{&h0, "h0"}, std::pair{&c0, "c0"}}) {
    if (!state->defined()) continue;
    if (state->shape() != state_shape)
      throw std::invalid_argument(fmt::format(
          "{}: {} has shape {}, expected [num_layers × directions, B, H] = {} for input of shape {}", name, what,
          shape_str(state->shape()), shape_str(state_shape), shape_str(input.shape())));
    if (state->dtype() != input.dtype())
      throw std::invalid_argument(fmt::format("{}: {} is {}, the input {}", name, what, dtype_name(state->dtype()),
                                              dtype_name(input.dtype())));
  }
  if (h0.defined() != c0.defined())
    throw std::invalid_argument(fmt::format("{}: expected both h0 and c0 or neither, got h0 {} and c0 {}", name,
                                            shape_or_none(h0), shape_or_none(c0)));

  if (lengths.defined()) {
    if (lengths.dtype() != kInt64 || lengths.shape() != Shape{B})
      throw std::invalid_argument(fmt::format("{}: expected lengths to be an int64 tensor of shape [{}] (the batch), "
                                              "got {} {}",
                                              name, B, dtype_name(lengths.dtype()), shape_str(lengths.shape())));
    for (int64_t length : lengths.to_vector<int64_t>())
      if (length < 1 || length > T)
        throw std::invalid_argument(fmt::format(
            "{}: lengths must be in [1, {}] (T of the input of shape {}), got {}", name, T,
            shape_str(input.shape()), length));
  }
  return H;
}

}  // namespace

LSTMOutput lstm(const Tensor& input, const std::vector<LSTMWeights>& weights, const Tensor& h0, const Tensor& c0,
                const Tensor& lengths, const LSTMFunctionalOptions& options) {
  const int64_t H = check_lstm_args(input, weights, h0, c0, lengths, options);
  const int64_t directions = options.bidirectional ? 2 : 1;
  const int64_t num_layers = static_cast<int64_t>(weights.size()) / directions;
  const int64_t B = input.shape()[options.batch_first ? 0 : 1];
  const Tensor zero_state = h0.defined() ? Tensor() : zeros({B, H}, TensorOptions(input.dtype()).with_device(input.device()));

  // Layers run time-major [T, B, features]; lstm_layer copies a batch_first input once.
  Tensor layer_input = options.batch_first ? transpose(input, 0, 1) : input;
  std::vector<Tensor> h_n, c_n;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const int64_t index = layer * directions + direction;
      const LSTMWeights& w = weights[static_cast<size_t>(index)];
      Tensor h = h0.defined() ? select(h0, 0, index) : zero_state;
      Tensor c = c0.defined() ? select(c0, 0, index) : zero_state;
      auto [output, h_last, c_last] =
          lstm_layer(layer_input, h, c, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, lengths, direction == 1);
      outputs.push_back(output);
      h_n.push_back(h_last);
      c_n.push_back(c_last);
    }
    layer_input = directions == 2 ? cat(outputs, 2) : outputs[0];
    if (layer + 1 < num_layers && options.dropout > 0 && options.training)
      layer_input = dropout(layer_input, options.dropout, true, options.generator);
  }
  Tensor output = options.batch_first ? transpose(layer_input, 0, 1) : layer_input;
  return {output, stack(h_n, 0), stack(c_n, 0)};
}

}  // namespace focus::nn::functional
