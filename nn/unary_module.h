#pragma once
// UnaryModule: a layer that maps one tensor to one tensor (Linear, Conv2d, ReLU,
// Dropout, ...). Deriving from it is what lets a layer go into a Sequential.
#include "nn/module.h"

namespace focus::nn {

/// A Module with `Tensor forward(const Tensor&)`. Call it as `layer(x)`:
/// operator() runs forward and records the output shape for summary().
class UnaryModule : public Module {
 public:
  /// The layer's computation.
  virtual Tensor forward(const Tensor& input) = 0;

  /// forward(input), remembering the output shape for Module::summary().
  Tensor operator()(const Tensor& input) {
    Tensor output = forward(input);
    record_output_shape(output.shape());
    return output;
  }
};

}  // namespace focus::nn
