#include "nn/layers/linear.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "nn/functional/linear.h"
#include "nn/init.h"

namespace focus::nn {

Linear::Linear(const LinearOptions& options, Generator* gen) : options(options) {
  const int64_t in_features = options.in_features(), out_features = options.out_features();
  if (in_features < 0 || out_features < 0)
    throw std::invalid_argument(
        fmt::format("Linear: in_features and out_features must be >= 0, got {} and {}", in_features, out_features));
  weight = register_parameter("weight", empty({out_features, in_features}));
  if (options.bias()) bias = register_parameter("bias", empty({out_features}));
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator* gen) {
  // PyTorch's default: kaiming_uniform_(a = √5) gives gain √(2 / (1 + 5)) = 1/√3 and bound
  // gain·√(3 / fan_in) = 1/√fan_in; the bias uses the same bound.
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const int64_t in_features = options.in_features();
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& input) {
  check_defined(input, "Linear");
  const int64_t in_features = options.in_features(), out_features = options.out_features();
  if (input.dim() == 0 || input.size(-1) != in_features)
    throw std::invalid_argument(fmt::format(
        "Linear(in_features={}, out_features={}): input of shape {} has {} features, "
        "expected {}",
        in_features, out_features, shape_str(input.shape()), input.dim() == 0 ? 0 : input.size(-1), in_features));
  return functional::linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", options.in_features(), options.out_features(),
                     bias.defined());
}

}  // namespace focus::nn
