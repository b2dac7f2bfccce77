#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class LogBackward : public Node {
 public:
  explicit LogBackward(Tensor x) : x_(save(x, "x")) {}
  std::string name() const override { return "LogBackward"; }
  // forward: y = ln x; so dx = dy / x   (x.shape)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::div(grad_outputs[0], x_)};
  }

 private:
  Tensor x_;
};
}  // namespace

Tensor log(const Tensor& x) {
  Tensor y = kernels::log(x);
  if (any_requires_grad({x})) connect(std::make_shared<LogBackward>(x), {x}, {y});
  return y;
}

}  // namespace focus
