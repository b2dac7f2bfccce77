#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SigmoidBackward : public Node {
 public:
  explicit SigmoidBackward(Tensor y) : y_(save(y, "y")) {}
  std::string name() const override { return "SigmoidBackward"; }
  // forward: y = σ(x) = 1 / (1 + e^-x); so dx = dy * y * (1 - y)   (x.shape), one fused pass over the saved output.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::sigmoid_backward(grad_outputs[0], y_)};
  }

 private:
  Tensor y_;
};
}  // namespace

Tensor sigmoid(const Tensor& x) {
  Tensor y = kernels::sigmoid(x);
  if (any_requires_grad({x})) connect(std::make_shared<SigmoidBackward>(y), {x}, {y});
  return y;
}

}  // namespace focus
