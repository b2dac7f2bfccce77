#pragma once
// BatchNorm2d: per-channel batch normalisation of NCHW images, like torch.nn.BatchNorm2d.
#include <cstdint>
#include <optional>
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// BatchNorm2d's arguments with PyTorch's names and defaults, as chained setters:
/// `BatchNorm2dOptions(64).momentum(0.01).affine(false)`.
class BatchNorm2dOptions {
 public:
  explicit BatchNorm2dOptions(int64_t num_features) : num_features_(num_features) {}

  BatchNorm2dOptions& eps(double e) { eps_ = e; return *this; }
  /// nullopt: running statistics are the plain average of all batches seen (PyTorch's momentum=None).
  BatchNorm2dOptions& momentum(std::optional<double> m) { momentum_ = m; return *this; }
  BatchNorm2dOptions& affine(bool a) { affine_ = a; return *this; }
  BatchNorm2dOptions& track_running_stats(bool t) { track_running_stats_ = t; return *this; }

  int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }

 private:
  int64_t num_features_;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool affine_ = true;
  bool track_running_stats_ = true;
};

/// y = (x − mean) / √(var + eps) · weight + bias per channel of [N, C, H, W] (Ioffe &
/// Szegedy 2015). Training: mean and biased var over (N, H, W) of the batch, and the
/// running statistics move towards them, running = (1 − momentum)·running + momentum·batch,
/// with the unbiased variance (as PyTorch). Eval: the running statistics. Without
/// track_running_stats, batch statistics are used in both modes.
/// Parameters weight (ones) and bias (zeros) [C] when affine; buffers running_mean (zeros),
/// running_var (ones) [C] and num_batches_tracked (int64 0-d) when tracking: PyTorch's names.
class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(const BatchNorm2dOptions& options);
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNorm2dOptions(num_features)) {}

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "BatchNorm2d"; }
  /// "64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True", as PyTorch prints it.
  std::string extra_repr() const override;

  /// running_mean ← 0, running_var ← 1, num_batches_tracked ← 0.
  void reset_running_stats();
  /// reset_running_stats(), weight ← 1, bias ← 0.
  void reset_parameters();

  BatchNorm2dOptions options;
  Tensor weight, bias;                                   ///< undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked; ///< undefined unless track_running_stats
};

}  // namespace focus::nn
