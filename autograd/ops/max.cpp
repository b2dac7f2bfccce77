// max and min along one dim, with the indices of the winners.
#include "autograd/ops.h"
#include "autograd/ops/reduction_grad.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class MaxBackward : public Node {
 public:
  MaxBackward(const char* name, Shape input_shape, int64_t dim, Tensor indices, bool keepdim)
      : name_(name), input_shape_(std::move(input_shape)), dim_(dim), indices_(std::move(indices)), keepdim_(keepdim) {}
  std::string name() const override { return name_; }
  // forward: y = x[..., indices, ...] along dim, the first maximum (minimum) of each slice   x: (B, N) → y: (B)
  // so dx = dy at that index and 0 elsewhere: scatter_add of dy into zeros like x.         (B, N)
  // On ties only the first maximum, the one `indices` names, gets the gradient (amax shares it instead).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    if (input_shape_.empty()) return {dy};  // max of a 0-d tensor is the tensor
    std::vector<bool> reduced(input_shape_.size(), false);
    reduced[dim_] = true;
    Tensor dx = zeros(input_shape_, TensorOptions(dy.dtype()).with_device(dy.device()));
    return {kernels::scatter_add(dx, dim_, detail::unsqueeze_reduced(indices_, reduced, keepdim_),
                                 detail::unsqueeze_reduced(dy, reduced, keepdim_))};
  }

 private:
  const char* name_;
  Shape input_shape_;
  int64_t dim_;
  Tensor indices_;
  bool keepdim_;
};

template <typename Kernel>
std::pair<Tensor, Tensor> max_or_min(const Tensor& x, int64_t dim, bool keepdim, Kernel kernel, const char* op,
                                     const char* node_name) {
  auto [values, indices] = kernel(x, dim, keepdim);
  if (any_requires_grad({x})) {
    int64_t d = x.dim() == 0 ? 0 : normalize_dim(dim, x.dim(), op);
    connect(std::make_shared<MaxBackward>(node_name, x.shape(), d, indices, keepdim), {x}, {values});
  }
  return {values, indices};
}
}  // namespace

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return max_or_min(x, dim, keepdim, kernels::max, "max", "MaxBackward");
}

std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return max_or_min(x, dim, keepdim, kernels::min, "min", "MinBackward");
}

}  // namespace focus
