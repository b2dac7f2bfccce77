#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class DivBackward : public Node {
 public:
  DivBackward(Shape a_shape, Shape b_shape, Tensor b, Tensor y)
      : a_shape_(std::move(a_shape)), b_shape_(std::move(b_shape)), b_(save(b, "b")), y_(save(y, "y")) {}
  std::string name() const override { return "DivBackward"; }
  // forward: y = a / b   (a, b broadcast to y.shape)
  // so da = sum_to(dy / b, a.shape) and db = sum_to(-dy * a / b², b.shape) = sum_to(-(dy / b) * y, b.shape):
  // both start from dy / b, computed once.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    Tensor dy_over_b = kernels::div(grad_outputs[0], b_);
    Tensor da = needs_input_grad(0) ? kernels::sum_to(dy_over_b, a_shape_) : Tensor();
    Tensor db = needs_input_grad(1) ? kernels::neg(kernels::sum_to(kernels::mul(dy_over_b, y_), b_shape_)) : Tensor();
    return {da, db};
  }

 private:
  Shape a_shape_, b_shape_;
  Tensor b_, y_;  // y only when b needs a gradient
};
}  // namespace

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::div(a, b);
  if (any_requires_grad({a, b}))
    connect(std::make_shared<DivBackward>(a.shape(), b.shape(), b, b.requires_grad() ? y : Tensor()),
            {a, b}, {y});
  return y;
}

}  // namespace focus
