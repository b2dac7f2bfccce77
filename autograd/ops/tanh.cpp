#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class TanhBackward : public Node {
 public:
  explicit TanhBackward(Tensor y) : y_(save(y, "y")) {}
  std::string name() const override { return "TanhBackward"; }
  // forward: y = tanh x; so dx = dy * (1 - y²)   (x.shape), one fused pass over the saved output.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::tanh_backward(grad_outputs[0], y_)};
  }

 private:
  Tensor y_;
};
}  // namespace

Tensor tanh(const Tensor& x) {
  Tensor y = kernels::tanh(x);
  if (any_requires_grad({x})) connect(std::make_shared<TanhBackward>(y), {x}, {y});
  return y;
}

}  // namespace focus
