#pragma once
// Dropout: randomly zeroes activations while training, like torch.nn.Dropout.
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// Dropout's arguments with PyTorch's names and defaults: `DropoutOptions(0.1)`.
class DropoutOptions {
 public:
  DropoutOptions(double p = 0.5) : p_(p) {}  // implicit, so Dropout(0.1) reads as in PyTorch
  DropoutOptions& p(double value) { p_ = value; return *this; }
  double p() const { return p_; }

 private:
  double p_;
};

/// Inverted dropout (Srivastava et al. 2014): in training mode each element is zeroed
/// with probability p and the rest scaled by 1/(1 − p); in eval mode, the identity.
/// The masks come from the default generator (seed it with focus::manual_seed), as PyTorch's
/// modules use the global one: a layer keeps no pointer to a generator that may be gone.
class Dropout : public UnaryModule {
 public:
  explicit Dropout(const DropoutOptions& options = {});
  Dropout(double p) : Dropout(DropoutOptions(p)) {}

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  DropoutOptions options;
};

}  // namespace focus::nn
