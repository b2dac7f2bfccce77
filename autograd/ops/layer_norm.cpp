// layer_norm: normalise over the trailing dims, as torch.nn.functional.layer_norm,
// fused (tensor/cpu/layer_norm.cpp) with the backward written out below.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class LayerNormBackward : public Node {
 public:
  LayerNormBackward(Tensor x, Tensor rstd, Tensor weight, Shape normalized_shape)
      : x_(save(x, "x")),
        rstd_(std::move(rstd)),
        weight_(save(weight, "weight")),
        normalized_shape_(std::move(normalized_shape)) {}
  std::string name() const override { return "LayerNormBackward"; }

  // forward, per row of D normalised elements (rows = the leading dims):
  //   x̂ = (x − μ)·σ⁻¹ with σ = √(var + eps),  y = γ·x̂ + β          x, y (rows, D); γ, β (D)
  // so dβ = Σ_rows dy,  dγ = Σ_rows dy·x̂,  and with g = dy·γ (the gradient reaching x̂):
  //   dx = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂))
  // (μ and σ depend on every x in the row: the two means are their share of the gradient).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    kernels::LayerNormGrads grads = kernels::layer_norm_backward(
        grad_outputs[0], x_, rstd_, weight_, needs_input_grad(0), needs_input_grad(1), needs_input_grad(2));
    if (grads.weight.defined()) grads.weight = views::reshape_view(grads.weight, normalized_shape_);
    if (grads.bias.defined()) grads.bias = views::reshape_view(grads.bias, normalized_shape_);
    return {grads.input, grads.weight, grads.bias};
  }

 private:
  Tensor x_, rstd_, weight_;
  Shape normalized_shape_;
};

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_defined(x, "layer_norm");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  const bool fits = k > 0 && x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape;
  if (!fits)
    throw std::invalid_argument(fmt::format("layer_norm: input of shape {} does not end with normalized_shape {}",
                                            shape_str(x.shape()), shape_str(normalized_shape)));
  if (shape_numel(normalized_shape) == 0)
    throw std::invalid_argument(
        fmt::format("layer_norm: normalized_shape {} has no elements", shape_str(normalized_shape)));
  for (const auto& [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}})
    if (t->defined() && t->shape() != normalized_shape)
      throw std::invalid_argument(fmt::format("layer_norm: {} of shape {} does not match normalized_shape {}", what,
                                              shape_str(t->shape()), shape_str(normalized_shape)));
  if (!(eps >= 0.0)) throw std::invalid_argument(fmt::format("layer_norm: eps must be >= 0, got {}", eps));

  kernels::LayerNormForward f = kernels::layer_norm(x, shape_numel(normalized_shape), weight, bias, eps);
  if (any_requires_grad({x, weight, bias}))
    connect(std::make_shared<LayerNormBackward>(x, f.rstd, weight, normalized_shape), {x, weight, bias}, {f.output});
  return f.output;
}

}  // namespace focus
