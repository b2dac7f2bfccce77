#pragma once
// 2-D pooling, stateless (focus::nn::functional), like torch.nn.functional's
// max_pool2d, avg_pool2d and adaptive_avg_pool2d. Sizes are Size2: 2 or {2, 3}.
#include <optional>
#include <utility>

#include "nn/size2.h"
#include "tensor/tensor.h"

namespace focus::nn::functional {

/// Window maxima of input [N, C, H, W] → [N, C, H_out, W_out],
/// H_out = ⌊(H + 2·padding − kernel) / stride⌋ + 1.
/// stride defaults to kernel_size; padding (−∞, at most half the kernel) defaults to 0.
Tensor max_pool2d(const Tensor& input, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                  Size2 padding = 0);
/// max_pool2d and the int64 positions h·W + w of each maximum in its input plane.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Size2 kernel_size,
                                                  std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
/// Window means; with count_include_pad (PyTorch's default) the zero padding counts in the divisor.
Tensor avg_pool2d(const Tensor& input, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                  Size2 padding = 0, bool count_include_pad = true);
/// Means over the windows that give output_size: row i covers [⌊i·H/H_out⌋, ⌈(i+1)·H/H_out⌉).
/// output_size 1 is global average pooling.
Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size);

}  // namespace focus::nn::functional
