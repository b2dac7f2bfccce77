#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class MaximumBackward : public Node {
 public:
  MaximumBackward(Tensor a, Tensor b) : a_(save(a, "a")), b_(save(b, "b")) {}
  std::string name() const override { return "MaximumBackward"; }
  // forward: y = max(a, b)   (a, b broadcast to y.shape)
  // so dy goes to whichever operand is larger; on ties (a == b) each gets dy / 2, a subgradient
  // that keeps max(x, x) = x exact and is symmetric in a and b.
  //   da = sum_to(dy * [a > b] + dy/2 * [a == b], a.shape), db likewise with a and b swapped.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor da = needs_input_grad(0) ? kernels::sum_to(kernels::maximum_backward(dy, a_, b_), a_.shape()) : Tensor();
    Tensor db = needs_input_grad(1) ? kernels::sum_to(kernels::maximum_backward(dy, b_, a_), b_.shape()) : Tensor();
    return {da, db};
  }

 private:
  Tensor a_, b_;
};
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::maximum(a, b);
  if (any_requires_grad({a, b})) connect(std::make_shared<MaximumBackward>(a, b), {a, b}, {y});
  return y;
}

}  // namespace focus
