#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class ClampBackward : public Node {
 public:
  ClampBackward(Tensor x, std::optional<double> min, std::optional<double> max)
      : x_(save(x, "x")), min_(min), max_(max) {}
  std::string name() const override { return "ClampBackward"; }
  // forward: y = min(max(x, lo), hi); so dx = dy where lo <= x <= hi, else 0   (x.shape).
  // The bounds themselves count as inside (PyTorch's choice at the kinks).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::clamp_backward(grad_outputs[0], x_, min_, max_)};
  }

 private:
  Tensor x_;
  std::optional<double> min_, max_;
};
}  // namespace

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  Tensor y = kernels::clamp(x, min, max);
  if (any_requires_grad({x})) connect(std::make_shared<ClampBackward>(x, min, max), {x}, {y});
  return y;
}

}  // namespace focus
