#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class GeluBackward : public Node {
 public:
  explicit GeluBackward(Tensor x) : x_(save(x, "x")) {}
  std::string name() const override { return "GeluBackward"; }
  // forward: y = x Φ(x), Φ the standard normal CDF; so dx = dy * (Φ(x) + x φ(x))   (x.shape),
  // φ(x) = e^(-x²/2) / √(2π) the density, in one fused pass.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::gelu_backward(grad_outputs[0], x_)};
  }

 private:
  Tensor x_;
};
}  // namespace

Tensor gelu(const Tensor& x) {
  Tensor y = kernels::gelu(x);
  if (any_requires_grad({x})) connect(std::make_shared<GeluBackward>(x), {x}, {y});
  return y;
}

}  // namespace focus
