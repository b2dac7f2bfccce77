#pragma once
#include <fmt/format.h>

#include <ostream>
#include <string>

#include "tensor/tensor.h"

namespace focus {

/// PyTorch-style text: `tensor([[1.0000, 2.0000], ...], dtype=float64, requires_grad=true)`.
/// Large tensors show their first and last three entries per dim.
std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& out, const Tensor& t);

}  // namespace focus

/// fmt::format("{}", t) prints a tensor.
template <>
struct fmt::formatter<focus::Tensor> : fmt::formatter<std::string> {
  auto format(const focus::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(focus::to_string(t), ctx);
  }
};
