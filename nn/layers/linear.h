#pragma once
// Linear: a fully connected layer, y = x·Wᵀ + b, like torch.nn.Linear.
#include <cstdint>
#include <string>

#include "nn/unary_module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// Linear's arguments with PyTorch's names and defaults, as chained setters:
/// `LinearOptions(64, 10)`, `LinearOptions(64, 10).bias(false)`.
class LinearOptions {
 public:
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}

  LinearOptions& bias(bool b) { bias_ = b; return *this; }

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  int64_t in_features_, out_features_;
  bool bias_ = true;
};

/// y = x·weightᵀ + bias over the last dim: [..., in_features] → [..., out_features].
/// weight [out_features, in_features] and bias [out_features] start as PyTorch's:
/// kaiming_uniform_(a = √5), i.e. U(−1/√in_features, 1/√in_features), for both.
class Linear : public UnaryModule {
 public:
  /// `gen` (optional, not owned) draws the initial weights; the default generator otherwise.
  explicit Linear(const LinearOptions& options, Generator* gen = nullptr);
  Linear(int64_t in_features, int64_t out_features) : Linear(LinearOptions(in_features, out_features)) {}

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  /// Re-draws weight and bias from the default initialisation (from `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);

  LinearOptions options;
  Tensor weight;
  Tensor bias;  ///< undefined with .bias(false)
};

}  // namespace focus::nn
