#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ReluBackward : public Node {
 public:
  explicit ReluBackward(Tensor y) : y_(save(y, "y")) {}
  std::string name() const override { return "ReluBackward"; }
  // forward: y = max(x, 0); so dx = dy where x > 0, else 0   (x.shape); at the kink x = 0 the
  // subgradient 0 is used. y > 0 exactly where x > 0, so the output serves as the mask.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::leaky_relu_backward(grad_outputs[0], y_, 0.0)};
  }

 private:
  Tensor y_;
};
}  // namespace

Tensor relu(const Tensor& x) {
  Tensor y = kernels::relu(x);
  if (any_requires_grad({x})) connect(std::make_shared<ReluBackward>(y), {x}, {y});
  return y;
}

}  // namespace focus
