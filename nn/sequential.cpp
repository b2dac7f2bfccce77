#include "nn/sequential.h"

#include <fmt/format.h>

namespace focus::nn {

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  // operator(), not forward(): each layer records its output shape for summary().
  for (const auto& layer : layers_) x = (*layer)(x);
  return x;
}

const std::shared_ptr<UnaryModule>& Sequential::operator[](size_t index) const {
  if (index >= layers_.size())
    throw std::out_of_range(fmt::format("Sequential: index {} is out of range for {} layers", index, layers_.size()));
  return layers_[index];
}

}  // namespace focus::nn
