#include "nn/layers/dropout.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/dropout.h"

namespace focus::nn {

Dropout::Dropout(const DropoutOptions& options) : options(options) {
  if (!(options.p() >= 0.0 && options.p() <= 1.0))
    throw std::invalid_argument(fmt::format("Dropout: probability must be in [0, 1], got {}", options.p()));
}

Tensor Dropout::forward(const Tensor& input) { return functional::dropout(input, options.p(), is_training()); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", options.p()); }

}  // namespace focus::nn
