#pragma once
// Dropout: randomly zeroes activations while training, like torch.nn.Dropout.
#include <string>

#include "nn/unary_module.h"
#include "tensor/generator.h"

namespace focus::nn {

/// Inverted dropout (Srivastava et al. 2014): in training mode each element is zeroed
/// with probability p and the rest scaled by 1/(1 − p); in eval mode, the identity.
class Dropout : public UnaryModule {
 public:
  /// `gen` (optional, not owned) supplies the masks; the default generator otherwise.
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  double p;
  Generator* generator;
};

}  // namespace focus::nn
