#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class MulBackward : public Node {
 public:
  MulBackward(Shape a_shape, Shape b_shape, Tensor a, Tensor b)
      : a_shape_(std::move(a_shape)), b_shape_(std::move(b_shape)), a_(save(a, "a")), b_(save(b, "b")) {}
  std::string name() const override { return "MulBackward"; }
  // forward: y = a * b   (a, b broadcast to y.shape)
  // so da = sum_to(dy * b, a.shape) and db = sum_to(dy * a, b.shape).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor da = needs_input_grad(0) ? kernels::sum_to(kernels::mul(dy, b_), a_shape_) : Tensor();
    Tensor db = needs_input_grad(1) ? kernels::sum_to(kernels::mul(dy, a_), b_shape_) : Tensor();
    return {da, db};
  }

 private:
  Shape a_shape_, b_shape_;
  Tensor a_, b_;  // each only when the other operand needs a gradient
};
}  // namespace

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::mul(a, b);
  if (any_requires_grad({a, b})) {
    // da needs b and db needs a: keep an operand only when the other one wants its gradient.
    Tensor kept_a = b.requires_grad() ? a : Tensor();
    Tensor kept_b = a.requires_grad() ? b : Tensor();
    connect(std::make_shared<MulBackward>(a.shape(), b.shape(), kept_a, kept_b), {a, b}, {y});
  }
  return y;
}

}  // namespace focus
