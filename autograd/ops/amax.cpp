// amax: the max over any set of dims, values only.
#include "autograd/ops.h"
#include "autograd/ops/reduction_grad.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class AmaxBackward : public Node {
 public:
  AmaxBackward(Tensor x, Tensor y, std::vector<int64_t> dims, std::vector<bool> reduced, bool keepdim)
      : x_(save(x, "x")), y_(save(y, "y")), dims_(std::move(dims)), reduced_(std::move(reduced)), keepdim_(keepdim) {}
  std::string name() const override { return "AmaxBackward"; }
  // forward: y = max of x over the reduced dims                       x: (B, T, C) → y: (B, C) for dims {1}
  // so dx = dy / k at each of the k elements equal to the max of its slice, 0 elsewhere.   (B, T, C)
  // Ties share the gradient equally (as torch.amax does): Σ dx over a slice is still dy,
  // and the rule does not depend on which tied element a scan happens to meet first.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    Tensor is_max = kernels::eq(x_, detail::unsqueeze_reduced(y_, reduced_, keepdim_));  // bool, x's shape
    Tensor ties = kernels::sum(is_max, dims_, /*keepdim=*/true);                          // int64, keepdim shape
    Tensor share = kernels::div(detail::unsqueeze_reduced(grad_outputs[0], reduced_, keepdim_), ties);
    return {kernels::mul(is_max, share)};
  }

 private:
  Tensor x_, y_;
  std::vector<int64_t> dims_;
  std::vector<bool> reduced_;
  bool keepdim_;
};
}  // namespace

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor y = kernels::amax(x, dims, keepdim);
  if (any_requires_grad({x}))
    connect(std::make_shared<AmaxBackward>(x, y, dims, kernels::reduced_dims_mask(x.shape(), dims, "amax"),
                                           keepdim),
            {x}, {y});
  return y;
}

}  // namespace focus
