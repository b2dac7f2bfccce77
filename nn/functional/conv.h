#pragma once
// 2-D convolution, stateless (focus::nn::functional), like torch.nn.functional.conv2d.
#include <cstdint>
#include <string>
#include <variant>

#include "nn/size2.h"
#include "tensor/tensor.h"

namespace focus::nn {

/// torch's string paddings: Valid adds none; Same pads so that the output has the
/// input's size (stride 1 only; when the padding needed is odd, the extra row or
/// column goes after, as in PyTorch).
enum class Padding { Valid, Same };

/// Zero padding of a convolution: a Size2 added on both sides, or Valid/Same.
using Conv2dPadding = std::variant<Size2, Padding>;

/// "1", "(1, 2)", "'same'": how reprs and errors show a padding.
std::string padding_str(const Conv2dPadding& padding);

}  // namespace focus::nn

namespace focus::nn::functional {

/// The keyword options of conv2d, with PyTorch's names and defaults (chained setters).
struct Conv2dFuncOptions {
  Size2 stride_ = 1;
  Conv2dPadding padding_ = Size2(0);
  Size2 dilation_ = 1;
  int64_t groups_ = 1;

  Conv2dFuncOptions& stride(Size2 s) { stride_ = s; return *this; }
  Conv2dFuncOptions& padding(Size2 p) { padding_ = p; return *this; }
  Conv2dFuncOptions& padding(Padding p) { padding_ = p; return *this; }
  Conv2dFuncOptions& dilation(Size2 d) { dilation_ = d; return *this; }
  Conv2dFuncOptions& groups(int64_t g) { groups_ = g; return *this; }
};

/// Cross-correlation of input [N, C_in, H, W] with weight [C_out, C_in/groups, kH, kW],
/// plus bias [C_out] (optional) → [N, C_out, H_out, W_out], where
/// H_out = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1 (W likewise).
/// Runs as im2col + OpenBLAS GEMM over chunks of the batch, with an explicit backward.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv2dFuncOptions& options = {});

}  // namespace focus::nn::functional
