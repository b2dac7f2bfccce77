// sum over any set of dims.
#include "autograd/ops.h"
#include "autograd/ops/reduction_grad.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SumBackward : public Node {
 public:
  SumBackward(Shape input_shape, std::vector<bool> reduced, bool keepdim)
      : input_shape_(std::move(input_shape)), reduced_(std::move(reduced)), keepdim_(keepdim) {}
  std::string name() const override { return "SumBackward"; }
  // forward: y = Σ x over the reduced dims       x: (B, T, C) → y: (B, C) for dims {1}
  // so dx = dy broadcast back over them: each x element enters its sum once, with weight 1.   (B, T, C)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {detail::expand_reduced(grad_outputs[0], input_shape_, reduced_, keepdim_)};
  }

 private:
  Shape input_shape_;
  std::vector<bool> reduced_;
  bool keepdim_;
};
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor y = kernels::sum(x, dims, keepdim);
  if (any_requires_grad({x}))
    connect(std::make_shared<SumBackward>(x.shape(), kernels::reduced_dims_mask(x.shape(), dims, "sum"), keepdim),
            {x}, {y});
  return y;
}

}  // namespace focus
