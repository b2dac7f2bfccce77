// sigmoid_cross_entropy: binary cross-entropy on logits, elementwise and
// unreduced (nn::functional::binary_cross_entropy_with_logits reduces it).
// Computed from the logits, never from sigmoid(x), so it neither overflows nor
// takes log(0):  softplus(−x) = log(1 + e^(−x)) = max(−x, 0) + log1p(e^(−|x|)).
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

// softplus(−x), stable for any x.
Tensor softplus_of_negative(const Tensor& x) {
  return kernels::add(kernels::relu(kernels::neg(x)), kernels::log1p(kernels::exp(kernels::neg(kernels::abs(x)))));
}

class SigmoidCrossEntropyBackward : public Node {
 public:
  SigmoidCrossEntropyBackward(Tensor x, Tensor y, Tensor pos_weight)
      : x_(save(x, "x")), y_(save(y, "y")), pos_weight_(save(pos_weight, "pos_weight")) {}
  std::string name() const override { return "SigmoidCrossEntropyBackward"; }

  // forward: loss = (1 − y)·x + (1 + (pw − 1)·y)·softplus(−x)       (pw ≡ 1 without pos_weight;
  //          = −[pw·y·log σ(x) + (1 − y)·log(1 − σ(x))], all tensors broadcast to x's shape)
  // with softplus'(−x) w.r.t. x = −σ(−x) = σ(x) − 1:
  //   dx  = dloss·((1 − y) + (1 + (pw − 1)·y)·(σ(x) − 1))   (= dloss·(σ(x) − y) when pw ≡ 1)
  //   dy  = dloss·(−x + (pw − 1)·softplus(−x))
  //   dpw = dloss·y·softplus(−x), summed over the dims pw was broadcast along
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& dloss = grad_outputs[0];
    const bool has_pw = pos_weight_.defined();
    // 1 + (pw − 1)·y, the weight of the softplus term
    Tensor scale =
        has_pw ? kernels::add_scaled(kernels::affine(kernels::mul(pos_weight_, y_), 1.0, 1.0), y_, -1.0) : Tensor();
    Tensor dx, dy, dpw;
    if (needs_input_grad(0)) {
      Tensor sigmoid_minus_one = kernels::affine(kernels::sigmoid(x_), 1.0, -1.0);
      Tensor local = has_pw ? kernels::add(kernels::affine(y_, -1.0, 1.0), kernels::mul(scale, sigmoid_minus_one))
                            : kernels::sub(kernels::sigmoid(x_), y_);
      dx = kernels::sum_to(kernels::mul(dloss, local), x_.shape());
    }
    if (needs_input_grad(1) || needs_input_grad(2)) {
      Tensor sp = softplus_of_negative(x_);
      if (needs_input_grad(1)) {
        Tensor local = has_pw
                           ? kernels::add(kernels::neg(x_), kernels::mul(kernels::affine(pos_weight_, 1.0, -1.0), sp))
                           : kernels::neg(x_);
        dy = kernels::sum_to(kernels::mul(dloss, local), y_.shape());
      }
      if (needs_input_grad(2)) dpw = kernels::sum_to(kernels::mul(dloss, kernels::mul(y_, sp)), pos_weight_.shape());
    }
    return {dx, dy, dpw};
  }

 private:
  Tensor x_, y_, pos_weight_;
};

}  // namespace

Tensor sigmoid_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& pos_weight) {
  check_defined(logits, "binary_cross_entropy_with_logits");
  check_defined(target, "binary_cross_entropy_with_logits");
  if (logits.shape() != target.shape())
    throw std::invalid_argument(
        fmt::format("binary_cross_entropy_with_logits: target of shape {} does not match logits of shape {}",
                    shape_str(target.shape()), shape_str(logits.shape())));
  for (const Tensor* t : {&logits, &target, &pos_weight})
    if (t->defined() && t->dtype() != logits.dtype())
      throw std::invalid_argument(
          fmt::format("binary_cross_entropy_with_logits: logits, target and pos_weight must share one floating dtype, "
                      "got {} and {}",
                      dtype_name(logits.dtype()), dtype_name(t->dtype())));
  if (!is_floating(logits.dtype()))
    throw std::invalid_argument(fmt::format(
        "binary_cross_entropy_with_logits: logits must be float32 or float64, got {}", dtype_name(logits.dtype())));
  if (pos_weight.defined()) broadcast_shapes(pos_weight.shape(), logits.shape(), "binary_cross_entropy_with_logits");

  // (1 − y)·x + (1 + (pw − 1)·y)·softplus(−x)
  Tensor sp = softplus_of_negative(logits);
  Tensor first = kernels::mul(kernels::affine(target, -1.0, 1.0), logits);
  Tensor loss;
  if (pos_weight.defined()) {
    Tensor scale = kernels::add_scaled(kernels::affine(kernels::mul(pos_weight, target), 1.0, 1.0), target, -1.0);
    loss = kernels::add(first, kernels::mul(scale, sp));
  } else {
    loss = kernels::add(first, sp);
  }
  if (loss.shape() != logits.shape())
    throw std::invalid_argument(
        fmt::format("binary_cross_entropy_with_logits: pos_weight of shape {} would broadcast "
                    "logits of shape {} to {}",
                    shape_str(pos_weight.shape()), shape_str(logits.shape()), shape_str(loss.shape())));
  if (any_requires_grad({logits, target, pos_weight}))
    connect(std::make_shared<SigmoidCrossEntropyBackward>(logits, target, pos_weight), {logits, target, pos_weight},
            {loss});
  return loss;
}

}  // namespace focus
