#pragma once
// LayerNorm: normalisation over each sample's trailing dims, like torch.nn.LayerNorm.
#include <cstdint>
#include <string>

#include "nn/unary_module.h"

namespace focus::nn {

/// (x − mean) / √(var + eps) · weight + bias over the trailing dims `normalized_shape`
/// of [..., normalized_shape...]; the same in training and eval. With
/// elementwise_affine, weight (ones) and bias (zeros) of shape normalized_shape are learnt.
class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  /// LayerNorm over the last dim of size `normalized_size`.
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(Shape{normalized_size}, eps, elementwise_affine) {}

  Tensor forward(const Tensor& input) override;

  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

  /// weight = 1, bias = 0 (PyTorch's default).
  void reset_parameters();

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;  ///< undefined without elementwise_affine
};

}  // namespace focus::nn
