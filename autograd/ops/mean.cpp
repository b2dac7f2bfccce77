// mean over any set of dims.
#include "autograd/ops.h"
#include "autograd/ops/reduction_grad.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class MeanBackward : public Node {
 public:
  MeanBackward(Shape input_shape, std::vector<bool> reduced, bool keepdim)
      : input_shape_(std::move(input_shape)), reduced_(std::move(reduced)), keepdim_(keepdim) {}
  std::string name() const override { return "MeanBackward"; }
  // forward: y = Σ x / N over the reduced dims (N elements each)     x: (B, T, C) → y: (B, T) for dims {2}
  // so dx = dy / N broadcast back over them.                          (B, T, C)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    double count = static_cast<double>(detail::reduced_count(input_shape_, reduced_));
    // Divide the small tensor, then broadcast the view.
    Tensor scaled = kernels::div(dy, scalar_tensor(count, TensorOptions(dy.dtype()).with_device(dy.device())));
    return {detail::expand_reduced(scaled, input_shape_, reduced_, keepdim_)};
  }

 private:
  Shape input_shape_;
  std::vector<bool> reduced_;
  bool keepdim_;
};
}  // namespace

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor y = kernels::mean(x, dims, keepdim);
  if (any_requires_grad({x}))
    connect(std::make_shared<MeanBackward>(x.shape(), kernels::reduced_dims_mask(x.shape(), dims, "mean"), keepdim),
            {x}, {y});
  return y;
}

}  // namespace focus
