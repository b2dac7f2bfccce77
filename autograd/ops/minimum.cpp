#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class MinimumBackward : public Node {
 public:
  MinimumBackward(Tensor a, Tensor b) : a_(save(a, "a")), b_(save(b, "b")) {}
  std::string name() const override { return "MinimumBackward"; }
  // forward: y = min(a, b)   (a, b broadcast to y.shape)
  // so dy goes to whichever operand is smaller; on ties (a == b) each gets dy / 2 (as in maximum.cpp).
  // a is the smaller exactly where b is the larger, so a's share is maximum_backward with a and b swapped:
  //   da = sum_to(dy * [b > a] + dy/2 * [a == b], a.shape), db likewise.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor da = needs_input_grad(0) ? kernels::sum_to(kernels::maximum_backward(dy, b_, a_), a_.shape()) : Tensor();
    Tensor db = needs_input_grad(1) ? kernels::sum_to(kernels::maximum_backward(dy, a_, b_), b_.shape()) : Tensor();
    return {da, db};
  }

 private:
  Tensor a_, b_;
};
}  // namespace

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::minimum(a, b);
  if (any_requires_grad({a, b})) connect(std::make_shared<MinimumBackward>(a, b), {a, b}, {y});
  return y;
}

}  // namespace focus
