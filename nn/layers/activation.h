#pragma once
// Activation layers, like torch.nn.ReLU etc.: stateless UnaryModules over the ops
// in autograd/ops.h, so they can sit in a Sequential. The functional forms are in
// nn/functional/activation.h.
#include <cstdint>
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// max(x, 0).
class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "ReLU"; }
};

/// x for x > 0, negative_slope·x otherwise.
class LeakyReLU : public UnaryModule {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;
  double negative_slope;
};

/// Exact GELU, x·Φ(x) (Hendrycks & Gimpel 2016).
class GELU : public UnaryModule {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "GELU"; }
};

/// x·sigmoid(x).
class SiLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "SiLU"; }
};

class Tanh : public UnaryModule {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Tanh"; }
};

/// 1 / (1 + e^(−x)).
class Sigmoid : public UnaryModule {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Sigmoid"; }
};

/// softmax along `dim` (entries along it are positive and sum to 1).
class Softmax : public UnaryModule {
 public:
  explicit Softmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Softmax"; }
  std::string extra_repr() const override;
  int64_t dim;
};

/// log(softmax) along `dim`, computed stably.
class LogSoftmax : public UnaryModule {
 public:
  explicit LogSoftmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "LogSoftmax"; }
  std::string extra_repr() const override;
  int64_t dim;
};

}  // namespace focus::nn
