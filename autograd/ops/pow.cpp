// pow with a scalar exponent (x^p) and with a tensor exponent (a^b, broadcast).
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {
class PowScalarBackward : public Node {
 public:
  PowScalarBackward(Tensor x, double exponent) : x_(save(x, "x")), exponent_(exponent) {}
  std::string name() const override { return "PowScalarBackward"; }
  // forward: y = x^p   (any shape)
  // so dx = dy * p * x^(p-1), one fused pass (p = 0 gives zeros, not 0 * x^-1).
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    return {kernels::pow_scalar_backward(grad_outputs[0], x_, exponent_)};
  }

 private:
  Tensor x_;
  double exponent_;
};

class PowBackward : public Node {
 public:
  PowBackward(Tensor base, Tensor exponent, Tensor y)
      : base_(save(base, "base")), exponent_(save(exponent, "exponent")), y_(save(y, "y")) {}
  std::string name() const override { return "PowBackward"; }
  // forward: y = a^b   (a, b broadcast to y.shape)
  // so da = sum_to(dy * b * a^(b-1), a.shape)   (0 where b = 0, even at a = 0)
  // and db = sum_to(dy * y * log(a), b.shape)   (0 where a = 0 and b >= 0: there y = 0 or 1 is flat in b
  //                                              from the right, PyTorch's convention; a < 0 gives NaN)
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dy = grad_outputs[0];
    Tensor zero = scalar_tensor(0.0, TensorOptions(dy.dtype()).with_device(dy.device()));
    Tensor da, db;
    if (needs_input_grad(0)) {
      Tensor slope = kernels::mul(exponent_, kernels::pow(base_, kernels::affine(exponent_, 1.0, -1.0)));
      slope = kernels::where(kernels::eq(exponent_, zero), zero, slope);
      da = kernels::sum_to(kernels::mul(dy, slope), base_.shape());
    }
    if (needs_input_grad(1)) {
      Tensor slope = kernels::mul(y_, kernels::log(base_));
      Tensor flat = kernels::logical_and(kernels::eq(base_, zero), kernels::ge(exponent_, zero));
      slope = kernels::where(flat, zero, slope);
      db = kernels::sum_to(kernels::mul(dy, slope), exponent_.shape());
    }
    return {da, db};
  }

 private:
  Tensor base_, exponent_, y_;  // y only when the exponent needs a gradient
};
}  // namespace

Tensor pow(const Tensor& x, double exponent) {
  Tensor y = kernels::pow_scalar(x, exponent);
  if (any_requires_grad({x})) connect(std::make_shared<PowScalarBackward>(x, exponent), {x}, {y});
  return y;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor y = kernels::pow(base, exponent);
  if (any_requires_grad({base, exponent}))
    connect(std::make_shared<PowBackward>(base, exponent, exponent.requires_grad() ? y : Tensor()),
            {base, exponent}, {y});
  return y;
}

}  // namespace focus
