#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SelectBackward : public Node {
 public:
  SelectBackward(Shape input_shape, int64_t dim, int64_t index)
      : input_shape_(std::move(input_shape)), dim_(dim), index_(index) {}
  std::string name() const override { return "SelectBackward"; }
  // forward: y = x[..., index, ...] (dim removed)
  // so dx = zeros like x, with dy written at that index.   dy: x.shape without dim → dx: x.shape
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor dx = zeros(input_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
    kernels::copy(views::select(dx, dim_, index_), dy);
    return {dx};
  }

 private:
  Shape input_shape_;
  int64_t dim_, index_;
};
}  // namespace

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  Tensor y = views::select(x, dim, index);
  if (any_requires_grad({x})) {
    int64_t d = normalize_dim(dim, x.dim(), "select");
    connect(std::make_shared<SelectBackward>(x.shape(), d, index < 0 ? index + x.shape()[d] : index), {x}, {y});
  }
  return y;
}

}  // namespace focus
