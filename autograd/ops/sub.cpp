#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SubBackward : public Node {
 public:
  SubBackward(Shape a_shape, Shape b_shape) : a_shape_(std::move(a_shape)), b_shape_(std::move(b_shape)) {}
  std::string name() const override { return "SubBackward"; }
  // forward: y = a - b   (a, b broadcast to y.shape)
  // so da = dy and db = -dy, each summed back over the dims it was broadcast along
  // (negating after the sum touches the smaller tensor).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor da = needs_input_grad(0) ? kernels::sum_to(dy, a_shape_) : Tensor();
    Tensor db = needs_input_grad(1) ? kernels::neg(kernels::sum_to(dy, b_shape_)) : Tensor();
    return {da, db};
  }

 private:
  Shape a_shape_, b_shape_;
};
}  // namespace

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::sub(a, b);
  if (any_requires_grad({a, b})) connect(std::make_shared<SubBackward>(a.shape(), b.shape()), {a, b}, {y});
  return y;
}

}  // namespace focus
