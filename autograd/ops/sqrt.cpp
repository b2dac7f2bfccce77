#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SqrtBackward : public Node {
 public:
  explicit SqrtBackward(Tensor y) : y_(save(y, "y")) {}
  std::string name() const override { return "SqrtBackward"; }
  // forward: y = √x; so dx = dy / (2√x) = 0.5 * dy / y   (x.shape), from the saved output.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::affine(kernels::div(grad_outputs[0], y_), 0.5, 0.0)};
  }

 private:
  Tensor y_;
};
}  // namespace

Tensor sqrt(const Tensor& x) {
  Tensor y = kernels::sqrt(x);
  if (any_requires_grad({x})) connect(std::make_shared<SqrtBackward>(y), {x}, {y});
  return y;
}

}  // namespace focus
