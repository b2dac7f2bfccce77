// stack: equal-shaped inputs joined along a new dim.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class StackBackward : public Node {
 public:
  StackBackward(int64_t dim, size_t count) : dim_(dim), count_(count) {}
  std::string name() const override { return "StackBackward"; }
  // forward: y[..., i, ...] = x_i, the new dim at position dim    x_i: S → y: S with count inserted at dim
  // so dx_i = dy[..., i, ...] (a view, no copy).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    std::vector<Tensor> grads(count_);
    for (size_t i = 0; i < count_; ++i)
      if (needs_input_grad(i)) grads[i] = views::select(grad_outputs[0], dim_, static_cast<int64_t>(i));
    return grads;
  }

 private:
  int64_t dim_;
  size_t count_;
};
}  // namespace

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = kernels::stack(tensors, dim);
  if (any_requires_grad(tensors))
    connect(std::make_shared<StackBackward>(normalize_dim(dim, y.dim(), "stack"), tensors.size()), tensors, {y});
  return y;
}

}  // namespace focus
