#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ExpBackward : public Node {
 public:
  explicit ExpBackward(Tensor y) : y_(save(y, "y")) {}
  std::string name() const override { return "ExpBackward"; }
  // forward: y = e^x; so dx = dy * e^x = dy * y   (x.shape): the saved output, no second exp.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::mul(grad_outputs[0], y_)};
  }

 private:
  Tensor y_;
};
}  // namespace

Tensor exp(const Tensor& x) {
  Tensor y = kernels::exp(x);
  if (any_requires_grad({x})) connect(std::make_shared<ExpBackward>(y), {x}, {y});
  return y;
}

}  // namespace focus
