#include "nn/functional/linear.h"

#include "autograd/ops.h"

namespace focus::nn::functional {

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  return focus::linear(input, weight, bias);
}

}  // namespace focus::nn::functional
