// logsumexp: log Σ exp(x) over any set of dims, without overflow.
#include "autograd/ops.h"
#include "autograd/ops/reduction_grad.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class LogsumexpBackward : public Node {
 public:
  LogsumexpBackward(Tensor x, Tensor y, std::vector<bool> reduced, bool keepdim)
      : x_(save(x, "x")), y_(save(y, "y")), reduced_(std::move(reduced)), keepdim_(keepdim) {}
  std::string name() const override { return "LogsumexpBackward"; }
  // forward: y = log Σ exp(x) over the reduced dims                   x: (B, C) → y: (B) for dims {1}
  // so dx = dy * exp(x) / Σ exp(x) = dy * exp(x - y), the softmax of the slice.   (B, C)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    Tensor softmax = kernels::exp(kernels::sub(x_, detail::unsqueeze_reduced(y_, reduced_, keepdim_)));
    return {kernels::mul(softmax, detail::unsqueeze_reduced(grad_outputs[0], reduced_, keepdim_))};
  }

 private:
  Tensor x_, y_;
  std::vector<bool> reduced_;
  bool keepdim_;
};
}  // namespace

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor y = kernels::logsumexp(x, dims, keepdim);
  if (any_requires_grad({x}))
    connect(std::make_shared<LogsumexpBackward>(x, y,
                                                kernels::reduced_dims_mask(x.shape(), dims, "logsumexp"), keepdim),
            {x}, {y});
  return y;
}

}  // namespace focus
