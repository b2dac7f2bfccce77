#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class CosBackward : public Node {
 public:
  explicit CosBackward(Tensor x) : x_(save(x, "x")) {}
  std::string name() const override { return "CosBackward"; }
  // forward: y = cos x; so dx = -dy * sin x   (x.shape)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::mul(grad_outputs[0], kernels::neg(kernels::sin(x_)))};
  }

 private:
  Tensor x_;
};
}  // namespace

Tensor cos(const Tensor& x) {
  Tensor y = kernels::cos(x);
  if (any_requires_grad({x})) connect(std::make_shared<CosBackward>(x), {x}, {y});
  return y;
}

}  // namespace focus
