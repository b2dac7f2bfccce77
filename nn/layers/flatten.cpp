#include "nn/layers/flatten.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"

namespace focus::nn {

Tensor Flatten::forward(const Tensor& input) {
  check_defined(input, "Flatten");
  auto in_range = [&](int64_t d) { return d >= -input.dim() && d < input.dim(); };
  if (!in_range(start_dim) || !in_range(end_dim))
    throw std::invalid_argument(fmt::format("Flatten({}): input of shape {} has no dims {} to {}", extra_repr(),
                                            shape_str(input.shape()), start_dim, end_dim));
  return focus::flatten(input, start_dim, end_dim);
}

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim); }

}  // namespace focus::nn
