#pragma once
// Conv2d: a 2-D convolution layer over NCHW images, like torch.nn.Conv2d.
#include <cstdint>
#include <string>

#include "nn/functional/conv.h"
#include "nn/size2.h"
#include "nn/unary_module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// Conv2d's arguments with PyTorch's names and defaults, as chained setters:
/// `Conv2dOptions(3, 32, 3).stride(1).padding(1)`, `.padding(Padding::Same)`, `.bias(false)`.
class Conv2dOptions {
 public:
  Conv2dOptions(int64_t in_channels, int64_t out_channels, Size2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  Conv2dOptions& stride(Size2 s) { stride_ = s; return *this; }
  Conv2dOptions& padding(Size2 p) { padding_ = p; return *this; }
  Conv2dOptions& padding(Padding p) { padding_ = p; return *this; }
  Conv2dOptions& dilation(Size2 d) { dilation_ = d; return *this; }
  Conv2dOptions& groups(int64_t g) { groups_ = g; return *this; }
  Conv2dOptions& bias(bool b) { bias_ = b; return *this; }

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return stride_; }
  const Conv2dPadding& padding() const { return padding_; }
  Size2 dilation() const { return dilation_; }
  int64_t groups() const { return groups_; }
  bool bias() const { return bias_; }

 private:
  int64_t in_channels_, out_channels_;
  Size2 kernel_size_;
  Size2 stride_ = 1;
  Conv2dPadding padding_ = Size2(0);
  Size2 dilation_ = 1;
  int64_t groups_ = 1;
  bool bias_ = true;
};

/// y = conv2d(x, weight) + bias: [N, in_channels, H, W] → [N, out_channels, H_out, W_out]
/// (see nn::functional::conv2d for H_out). weight [out_channels, in_channels/groups, kH, kW]
/// and bias [out_channels] start as PyTorch's: kaiming_uniform_(a = √5), i.e.
/// U(−1/√fan_in, 1/√fan_in) with fan_in = in_channels/groups·kH·kW, for both.
class Conv2d : public UnaryModule {
 public:
  /// `gen` (optional, not owned) draws the initial weights; the default generator otherwise.
  explicit Conv2d(const Conv2dOptions& options, Generator* gen = nullptr);
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size)
      : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)) {}

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Conv2d"; }
  /// "3, 32, kernel_size=3, padding=1" (options at their defaults are left out).
  std::string extra_repr() const override;

  /// Re-draws weight and bias from the default initialisation.
  void reset_parameters(Generator* gen = nullptr);

  Conv2dOptions options;
  Tensor weight;
  Tensor bias;  ///< undefined with .bias(false)
};

}  // namespace focus::nn
