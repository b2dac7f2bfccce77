// log_softmax along one dim.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class LogSoftmaxBackward : public Node {
 public:
  LogSoftmaxBackward(Tensor y, int64_t dim) : y_(save(y, "y")), dim_(dim) {}
  std::string name() const override { return "LogSoftmaxBackward"; }
  // forward: y = x - log Σ exp(x) along dim, so dy_i/dx_j = δ_ij - softmax(x)_j, softmax(x) = exp(y)
  // so dx = dy - exp(y) * Σ(dy, dim)   (B, C), one fused kernel pass.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::log_softmax_backward(y_, grad_outputs[0], dim_)};
  }

 private:
  Tensor y_;
  int64_t dim_;
};
}  // namespace

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor y = kernels::log_softmax(x, dim);
  if (any_requires_grad({x})) connect(std::make_shared<LogSoftmaxBackward>(y, dim), {x}, {y});
  return y;
}

}  // namespace focus
