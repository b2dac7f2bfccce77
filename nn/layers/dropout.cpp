#include "nn/layers/dropout.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/dropout.h"

namespace focus::nn {

Dropout::Dropout(double p, Generator* gen) : p(p), generator(gen) {
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument(fmt::format("Dropout: probability must be in [0, 1], got {}", p));
}

Tensor Dropout::forward(const Tensor& input) { return functional::dropout(input, p, is_training(), generator); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

}  // namespace focus::nn
