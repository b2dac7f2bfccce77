#include "nn/functional/layer_norm.h"

#include "autograd/ops.h"

namespace focus::nn::functional {

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  return focus::layer_norm(input, normalized_shape, weight, bias, eps);
}

}  // namespace focus::nn::functional
