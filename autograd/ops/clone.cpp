// clone and contiguous: copies of the same values, so the gradient passes through.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class CloneBackward : public Node {
 public:
  std::string name() const override { return "CloneBackward"; }
  // forward: y = x (a copy); so dx = dy.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override { return {grad_outputs[0]}; }
};

Tensor record(const Tensor& x, Tensor y) {
  if (any_requires_grad({x})) connect(std::make_shared<CloneBackward>(), {x}, {y});
  return y;
}
}  // namespace

Tensor clone(const Tensor& x) { return record(x, kernels::contiguous_copy(x)); }

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return record(x, kernels::contiguous_copy(x));
}

}  // namespace focus
