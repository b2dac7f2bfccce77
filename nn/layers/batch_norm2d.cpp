#include "nn/layers/batch_norm2d.h"

#include <fmt/format.h>

#include <stdexcept>

#include "nn/functional/batch_norm.h"
#include "tensor/kernels.h"

namespace focus::nn {

BatchNorm2d::BatchNorm2d(const BatchNorm2dOptions& options) : options(options) {
  const int64_t C = options.num_features();
  if (C <= 0) throw std::invalid_argument(fmt::format("BatchNorm2d: num_features must be positive, got {}", C));
  if (options.eps() <= 0)
    throw std::invalid_argument(fmt::format("BatchNorm2d: eps must be positive, got {}", options.eps()));
  if (options.affine()) {
    weight = register_parameter("weight", ones({C}));
    bias = register_parameter("bias", zeros({C}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", zeros({C}));
    running_var = register_buffer("running_var", ones({C}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, kInt64));
  }
}

void BatchNorm2d::reset_running_stats() {
  if (!options.track_running_stats()) return;
  running_mean.fill_(0.0);
  running_var.fill_(1.0);
  num_batches_tracked.fill_(0.0);
}

void BatchNorm2d::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    weight.fill_(1.0);
    bias.fill_(0.0);
  }
}

Tensor BatchNorm2d::forward(const Tensor& input) {
  check_defined(input, "BatchNorm2d");
  if (input.dim() != 4 || input.shape()[1] != options.num_features())
    throw std::invalid_argument(fmt::format("BatchNorm2d({}): expected input of shape [N, {}, H, W], got {}",
                                            extra_repr(), options.num_features(), shape_str(input.shape())));
  // PyTorch's _BatchNorm.forward: count the batch, and with momentum=None average all batches equally.
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats()) {
    if (options.momentum()) {
      // Counted where the buffer lives: reading it back would stall a GPU every step.
      kernels::add_(num_batches_tracked, ones({}, TensorOptions(kInt64).with_device(num_batches_tracked.device())));
    } else {
      const int64_t seen = num_batches_tracked.item<int64_t>() + 1;  // the cumulative average needs the count
      num_batches_tracked.fill_(static_cast<double>(seen));
      factor = 1.0 / static_cast<double>(seen);
    }
  }
  // Batch statistics in training, and always when no running statistics are kept.
  const bool use_batch_stats = is_training() || !options.track_running_stats();
  return functional::batch_norm(input, running_mean, running_var, weight, bias, use_batch_stats, factor,
                                options.eps());
}

std::string BatchNorm2d::extra_repr() const {
  const std::string momentum = options.momentum() ? fmt::format("{}", *options.momentum()) : "None";
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", options.num_features(),
                     options.eps(), momentum, options.affine() ? "True" : "False",
                     options.track_running_stats() ? "True" : "False");
}

}  // namespace focus::nn
