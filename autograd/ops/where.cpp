#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class WhereBackward : public Node {
 public:
  WhereBackward(Tensor cond, Shape a_shape, Shape b_shape)
      : cond_(save(cond, "cond")), a_shape_(std::move(a_shape)), b_shape_(std::move(b_shape)) {}
  std::string name() const override { return "WhereBackward"; }
  // forward: y = cond ? a : b   (cond, a, b broadcast to y.shape)
  // so da = sum_to(cond ? dy : 0, a.shape) and db = sum_to(cond ? 0 : dy, b.shape); cond gets none.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor zero = scalar_tensor(0.0, TensorOptions(dy.dtype()).with_device(dy.device()));
    Tensor da = needs_input_grad(0) ? kernels::sum_to(kernels::where(cond_, dy, zero), a_shape_) : Tensor();
    Tensor db = needs_input_grad(1) ? kernels::sum_to(kernels::where(cond_, zero, dy), b_shape_) : Tensor();
    return {da, db};
  }

 private:
  Tensor cond_;
  Shape a_shape_, b_shape_;
};
}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor y = kernels::where(cond, a, b);
  // The condition is a selector, not a value: only a and b are inputs of the graph.
  if (any_requires_grad({a, b}))
    connect(std::make_shared<WhereBackward>(cond, a.shape(), b.shape()), {a, b}, {y});
  return y;
}

}  // namespace focus
