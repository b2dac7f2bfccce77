// softmax along one dim.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SoftmaxBackward : public Node {
 public:
  SoftmaxBackward(Tensor y, int64_t dim) : y_(save(y, "y")), dim_(dim) {}
  std::string name() const override { return "SoftmaxBackward"; }
  // forward: y = exp(x) / Σ exp(x) along dim, so dy_i/dx_j = y_i (δ_ij - y_j)
  // so dx = y * (dy - Σ(dy * y, dim))   (B, T, T), one fused kernel pass.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::softmax_backward(y_, grad_outputs[0], dim_)};
  }

 private:
  Tensor y_;  // the output is all backward needs
  int64_t dim_;
};
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor y = kernels::softmax(x, dim);
  if (any_requires_grad({x})) connect(std::make_shared<SoftmaxBackward>(y, dim), {x}, {y});
  return y;
}

}  // namespace focus
