#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ExpandBackward : public Node {
 public:
  explicit ExpandBackward(Shape input_shape) : input_shape_(std::move(input_shape)) {}
  std::string name() const override { return "ExpandBackward"; }
  // forward: y = x repeated along broadcast dims (no copy: stride 0)
  // so dx = dy summed over every dim that was broadcast.   dy: expanded → dx: x.shape
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::sum_to(grad_outputs[0], input_shape_)};
  }

 private:
  Shape input_shape_;
};
}  // namespace

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor y = views::expand(x, shape);
  if (any_requires_grad({x})) connect(std::make_shared<ExpandBackward>(x.shape()), {x}, {y});
  return y;
}

}  // namespace focus
