// swish(x) = x·σ(x) (also called SiLU): the worked example of docs/new-layer.md (route b: a
// new op with its own backward). The composite x * sigmoid(x) computes the same thing with two
// nodes whose backwards make two passes; one node with the derivative worked out makes one.
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class SwishBackward : public Node {
 public:
  SwishBackward(Tensor x, Tensor s) : x_(save(x, "x")), s_(save(s, "s")) {}
  std::string name() const override { return "SwishBackward"; }
  // forward: y = x σ(x); product rule with σ' = σ(1 − σ):
  // dy/dx = σ(x) + x σ(x)(1 − σ(x)) = σ(x)(1 + x(1 − σ(x))), so dx = dy ⊙ that   (x.shape).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {grad_outputs[0] * s_ * (1.0 + x_ * (1.0 - s_))};  // backward runs without recording a graph
  }

 private:
  Tensor x_, s_;
};
}  // namespace

Tensor swish(const Tensor& x) {
  Tensor s = kernels::sigmoid(x);
  Tensor y = kernels::mul(x, s);
  if (any_requires_grad({x})) connect(std::make_shared<SwishBackward>(x, s), {x}, {y});
  return y;
}

}  // namespace focus
