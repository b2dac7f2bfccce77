#include "nn/init.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "autograd/grad_mode.h"

namespace focus::nn::init {

namespace {

void check_floating(const Tensor& tensor, const char* op) {
  check_defined(tensor, op);
  if (!is_floating(tensor.dtype()))
    throw std::invalid_argument(
        fmt::format("init::{}: expected a float32 or float64 tensor, got {}", op, dtype_name(tensor.dtype())));
}

// Draws a fresh tensor with `draw` in the target's dtype and copies it in: works
// for any layout (views included) and keeps every handle to the storage valid.
template <typename Draw>
Tensor fill_from(const Tensor& tensor, Draw&& draw) {
  NoGradGuard no_grad;
  Tensor values = draw(TensorOptions(tensor.dtype()));
  Tensor target = tensor;  // a handle: copy_ writes into the shared storage
  target.copy_(values.device() == tensor.device() ? values : values.to(tensor.device()));
  return tensor;
}

int64_t fan(const Tensor& tensor, FanMode mode) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return mode == FanMode::FanIn ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: {
      const double slope = param.value_or(0.01);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
  }
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  check_defined(tensor, "calculate_fan_in_and_fan_out");
  if (tensor.dim() < 2)
    throw std::invalid_argument(fmt::format(
        "calculate_fan_in_and_fan_out: needs a tensor with at least 2 dims (a weight [out, in, k...]), got shape {}",
        shape_str(tensor.shape())));
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor uniform_(const Tensor& tensor, double a, double b, Generator* gen) {
  check_floating(tensor, "uniform_");
  if (!(a <= b)) throw std::invalid_argument(fmt::format("init::uniform_: expected a <= b, got a={} b={}", a, b));
  return fill_from(tensor, [&](TensorOptions options) { return uniform(tensor.shape(), a, b, options, gen); });
}

Tensor normal_(const Tensor& tensor, double mean, double std, Generator* gen) {
  check_floating(tensor, "normal_");
  if (!(std >= 0.0)) throw std::invalid_argument(fmt::format("init::normal_: std must be >= 0, got {}", std));
  return fill_from(tensor, [&](TensorOptions options) { return normal(tensor.shape(), mean, std, options, gen); });
}

Tensor constant_(const Tensor& tensor, double value) {
  check_floating(tensor, "constant_");
  NoGradGuard no_grad;
  Tensor target = tensor;
  target.fill_(value);
  return tensor;
}

Tensor zeros_(const Tensor& tensor) { return constant_(tensor, 0.0); }
Tensor ones_(const Tensor& tensor) { return constant_(tensor, 1.0); }

Tensor xavier_uniform_(const Tensor& tensor, double gain, Generator* gen) {
  check_floating(tensor, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  // U(-a, a) has variance a²/3, so a = √3·std.
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& tensor, double gain, Generator* gen) {
  check_floating(tensor, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return normal_(tensor, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor kaiming_uniform_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating(tensor, "kaiming_uniform_");
  const int64_t n = fan(tensor, mode);
  if (n == 0) return tensor;  // an empty weight: nothing to fill (PyTorch warns and skips too)
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(n));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating(tensor, "kaiming_normal_");
  const int64_t n = fan(tensor, mode);
  if (n == 0) return tensor;
  return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(n)), gen);
}

}  // namespace focus::nn::init
