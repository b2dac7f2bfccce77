#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SinBackward : public Node {
 public:
  explicit SinBackward(Tensor x) : x_(save(x, "x")) {}
  std::string name() const override { return "SinBackward"; }
  // forward: y = sin x; so dx = dy * cos x   (x.shape)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::mul(grad_outputs[0], kernels::cos(x_))};
  }

 private:
  Tensor x_;
};
}  // namespace

Tensor sin(const Tensor& x) {
  Tensor y = kernels::sin(x);
  if (any_requires_grad({x})) connect(std::make_shared<SinBackward>(x), {x}, {y});
  return y;
}

}  // namespace focus
