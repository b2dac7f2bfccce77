#pragma once
// AdaptiveAvgPool2d: average pooling to a fixed output size, like torch.nn.AdaptiveAvgPool2d.
#include <string>

#include "nn/size2.h"
#include "nn/unary_module.h"

namespace focus::nn {

/// [N, C, H, W] → [N, C, output_size.h, output_size.w] for any H, W: output row i is the
/// mean over input rows [⌊i·H/H_out⌋, ⌈(i+1)·H/H_out⌉) (columns likewise), PyTorch's windows.
/// AdaptiveAvgPool2d(1) is global average pooling.
class AdaptiveAvgPool2d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size);

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override;

  Size2 output_size;
};

}  // namespace focus::nn
