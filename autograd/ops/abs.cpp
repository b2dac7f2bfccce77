#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class AbsBackward : public Node {
 public:
  explicit AbsBackward(Tensor x) : x_(save(x, "x")) {}
  std::string name() const override { return "AbsBackward"; }
  // forward: y = |x|; so dx = dy * sign(x)   (x.shape); at the kink x = 0 the subgradient 0 is used.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::mul(grad_outputs[0], kernels::sign(x_))};
  }

 private:
  Tensor x_;
};
}  // namespace

Tensor abs(const Tensor& x) {
  Tensor y = kernels::abs(x);
  if (any_requires_grad({x})) connect(std::make_shared<AbsBackward>(x), {x}, {y});
  return y;
}

}  // namespace focus
