#include "nn/layers/conv2d.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "nn/init.h"

namespace focus::nn {

Conv2d::Conv2d(const Conv2dOptions& options, Generator* gen) : options(options) {
  const Size2 k = options.kernel_size();
  if (options.in_channels() <= 0 || options.out_channels() <= 0 || options.groups() <= 0 || k.h <= 0 || k.w <= 0)
    throw std::invalid_argument(fmt::format("Conv2d: in_channels, out_channels, kernel_size and groups must be "
                                            "positive, got {}, {}, {} and {}",
                                            options.in_channels(), options.out_channels(), k.str(), options.groups()));
  if (options.in_channels() % options.groups() != 0 || options.out_channels() % options.groups() != 0)
    throw std::invalid_argument(fmt::format("Conv2d: in_channels ({}) and out_channels ({}) must be divisible by "
                                            "groups ({})",
                                            options.in_channels(), options.out_channels(), options.groups()));
  if (std::holds_alternative<Padding>(options.padding()) && std::get<Padding>(options.padding()) == Padding::Same &&
      options.stride() != Size2(1))
    throw std::invalid_argument(
        fmt::format("Conv2d: padding='same' needs stride 1, got stride {}", options.stride().str()));
  weight = register_parameter(
      "weight", empty({options.out_channels(), options.in_channels() / options.groups(), k.h, k.w}));
  if (options.bias()) bias = register_parameter("bias", empty({options.out_channels()}));
  reset_parameters(gen);
}

void Conv2d::reset_parameters(Generator* gen) {
  // PyTorch's default: kaiming_uniform_(a = √5) gives gain √(2 / (1 + 5)) = 1/√3 and bound
  // gain·√(3 / fan_in) = 1/√fan_in; the bias uses the same bound.
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& input) {
  check_defined(input, "Conv2d");
  if (input.dim() != 4 || input.shape()[1] != options.in_channels())
    throw std::invalid_argument(fmt::format("Conv2d({}): expected input of shape [N, {}, H, W], got {}", extra_repr(),
                                            options.in_channels(), shape_str(input.shape())));
  functional::Conv2dFuncOptions conv;
  conv.stride(options.stride()).dilation(options.dilation()).groups(options.groups());
  conv.padding_ = options.padding();
  return functional::conv2d(input, weight, bias, conv);
}

std::string Conv2d::extra_repr() const {
  std::string repr = fmt::format("{}, {}, kernel_size={}", options.in_channels(), options.out_channels(),
                                 options.kernel_size().str());
  if (options.stride() != Size2(1)) repr += fmt::format(", stride={}", options.stride().str());
  const Conv2dPadding& padding = options.padding();
  if (!(std::holds_alternative<Size2>(padding) && std::get<Size2>(padding) == Size2(0)))
    repr += fmt::format(", padding={}", padding_str(padding));
  if (options.dilation() != Size2(1)) repr += fmt::format(", dilation={}", options.dilation().str());
  if (options.groups() != 1) repr += fmt::format(", groups={}", options.groups());
  if (!options.bias()) repr += ", bias=False";
  return repr;
}

}  // namespace focus::nn
