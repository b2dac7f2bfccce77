// var: variance over any set of dims, with a correction (1 = unbiased).
#include "autograd/ops.h"
#include "autograd/ops/reduction_grad.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class VarBackward : public Node {
 public:
  VarBackward(Tensor x, std::vector<bool> reduced, std::vector<int64_t> dims, int64_t correction, bool keepdim)
      : x_(save(x, "x")), reduced_(std::move(reduced)), dims_(std::move(dims)), correction_(correction),
        keepdim_(keepdim) {}
  std::string name() const override { return "VarBackward"; }
  // forward: y = Σ (x - m)² / (N - c), m = mean of x over the reduced dims
  //          x: (B, C, H, W) → y: (C) for dims {0, 2, 3}
  // so dx = dy * 2 (x - m) / (N - c): the terms through m cancel, since Σ (x - m) = 0.   (B, C, H, W)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    double count = static_cast<double>(detail::reduced_count(x_.shape(), reduced_));
    Tensor scale = scalar_tensor(2.0 / (count - static_cast<double>(correction_)),
                                 TensorOptions(dy.dtype()).with_device(dy.device()));
    Tensor dy_scaled = detail::unsqueeze_reduced(kernels::mul(dy, scale), reduced_, keepdim_);  // keepdim shape
    Tensor deviation = kernels::sub(x_, kernels::mean(x_, dims_, /*keepdim=*/true));
    return {kernels::mul(deviation, dy_scaled)};
  }

 private:
  Tensor x_;
  std::vector<bool> reduced_;
  std::vector<int64_t> dims_;
  int64_t correction_;
  bool keepdim_;
};
}  // namespace

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  Tensor y = kernels::var(x, dims, correction, keepdim);
  if (any_requires_grad({x}))
    connect(std::make_shared<VarBackward>(x, kernels::reduced_dims_mask(x.shape(), dims, "var"), dims,
                                          correction, keepdim),
            {x}, {y});
  return y;
}

}  // namespace focus
