// Dtype conversion. Only float-to-float casts are differentiable: the gradient
// of a rounding to int64 or bool is zero almost everywhere and useless.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ToDtypeBackward : public Node {
 public:
  explicit ToDtypeBackward(DType input_dtype) : input_dtype_(input_dtype) {}
  std::string name() const override { return "ToDtypeBackward"; }
  // forward: y = x cast to another float dtype; so dx = dy cast back to x's dtype   (x.shape).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::contiguous_copy(grad_outputs[0], input_dtype_)};
  }

 private:
  DType input_dtype_;
};
}  // namespace

Tensor to_dtype(const Tensor& x, DType dtype) {
  check_defined(x, "to_dtype");
  if (x.dtype() == dtype) return x;  // like PyTorch's .to(): no copy when nothing changes
  Tensor y = kernels::contiguous_copy(x, dtype);
  if (is_floating(dtype) && any_requires_grad({x}))
    connect(std::make_shared<ToDtypeBackward>(x.dtype()), {x}, {y});
  return y;
}

}  // namespace focus
