#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class LeakyReluBackward : public Node {
 public:
  LeakyReluBackward(Tensor x, double negative_slope) : x_(save(x, "x")), negative_slope_(negative_slope) {}
  std::string name() const override { return "LeakyReluBackward"; }
  // forward: y = x if x > 0 else slope * x; so dx = dy if x > 0 else slope * dy   (x.shape).
  // The input is saved, not y: with a negative slope the sign of y would not tell the side.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::leaky_relu_backward(grad_outputs[0], x_, negative_slope_)};
  }

 private:
  Tensor x_;
  double negative_slope_;
};
}  // namespace

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  Tensor y = kernels::leaky_relu(x, negative_slope);
  if (any_requires_grad({x})) connect(std::make_shared<LeakyReluBackward>(x, negative_slope), {x}, {y});
  return y;
}

}  // namespace focus
