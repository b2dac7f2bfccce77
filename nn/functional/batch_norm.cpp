#include "nn/functional/batch_norm.h"

#include "autograd/ops.h"

namespace focus::nn::functional {

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  return focus::batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps);
}

}  // namespace focus::nn::functional
