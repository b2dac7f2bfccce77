#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class NegBackward : public Node {
 public:
  std::string name() const override { return "NegBackward"; }
  // forward: y = -x; so dx = -dy   (x.shape)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::neg(grad_outputs[0])};
  }
};
}  // namespace

Tensor neg(const Tensor& x) {
  Tensor y = kernels::neg(x);
  if (any_requires_grad({x})) connect(std::make_shared<NegBackward>(), {x}, {y});
  return y;
}

}  // namespace focus
