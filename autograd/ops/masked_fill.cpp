#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class MaskedFillBackward : public Node {
 public:
  explicit MaskedFillBackward(Tensor mask) : mask_(save(mask, "mask")) {}
  std::string name() const override { return "MaskedFillBackward"; }
  // forward: y = mask ? value : x   (mask broadcast to x.shape)
  // so dx = mask ? 0 : dy   (x.shape): filled positions no longer depend on x.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::masked_fill(grad_outputs[0], mask_, 0.0)};
  }

 private:
  Tensor mask_;
};
}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  Tensor y = kernels::masked_fill(x, mask, value);
  if (any_requires_grad({x})) connect(std::make_shared<MaskedFillBackward>(mask), {x}, {y});
  return y;
}

}  // namespace focus
