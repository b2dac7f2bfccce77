#pragma once
// MaxPool2d: the maximum over each window of every channel, like torch.nn.MaxPool2d.
#include <optional>
#include <string>

#include "nn/size2.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// [N, C, H, W] → [N, C, H_out, W_out], H_out = ⌊(H + 2·padding − kernel_size) / stride⌋ + 1.
/// stride defaults to kernel_size; padding counts as −∞ (at most half the kernel).
/// The gradient goes to the position of each window's maximum.
class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;

  Size2 kernel_size, stride, padding;
};

}  // namespace focus::nn
