#pragma once
// AvgPool2d: the mean over each window of every channel, like torch.nn.AvgPool2d.
#include <optional>
#include <string>

#include "nn/size2.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// [N, C, H, W] → [N, C, H_out, W_out], H_out = ⌊(H + 2·padding − kernel_size) / stride⌋ + 1.
/// stride defaults to kernel_size; padding is zeros (at most half the kernel). With
/// count_include_pad (PyTorch's default) the divisor is the whole window, padding included;
/// otherwise only the input elements inside it.
class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt, Size2 padding = 0,
                     bool count_include_pad = true);

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;

  Size2 kernel_size, stride, padding;
  bool count_include_pad;
};

}  // namespace focus::nn
