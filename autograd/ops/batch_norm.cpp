// batch_norm: per-channel normalisation over dim 1 of [N, C, *], like
// torch.nn.functional.batch_norm, as one fused op with its backward written out.
#include <fmt/format.h>

#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace focus {

namespace {

class BatchNormBackward : public Node {
 public:
  BatchNormBackward(const Tensor& input, Tensor mean, Tensor invstd, const Tensor& weight, bool batch_stats)
      : input_(save(input, "input")),
        mean_(std::move(mean)),
        invstd_(std::move(invstd)),
        weight_(save(weight, "weight")),
        batch_stats_(batch_stats) {}
  std::string name() const override { return "BatchNormBackward"; }

  // forward: x̂ = (x − μ)·σ⁻¹, y = γ·x̂ + β per channel c, over the M = N·(H·W…) values of c
  //          x, y [N, C, *]; μ, σ⁻¹ = 1/√(var + eps), γ, β [C]
  // so dβ = Σ dy and dγ = Σ dy·x̂ (sums over everything but C).
  // Training (μ, var are the batch's biased statistics, functions of x): with dx̂ = γ·dy,
  //    dx = σ⁻¹/M · (M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))
  //       = (γσ⁻¹)/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
  //    (the Σ terms are the gradient flowing through μ and through var).
  // Evaluation (running statistics are constants): dx = γ·σ⁻¹·dy.
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) override {
    kernels::BatchNormGrads grads =
        kernels::batch_norm_backward(grad_outputs[0], input_, mean_, invstd_, weight_, batch_stats_,
                                     needs_input_grad(0), needs_input_grad(1), needs_input_grad(2));
    return {grads.input, grads.weight, grads.bias};
  }

 private:
  Tensor input_, mean_, invstd_, weight_;
  bool batch_stats_;
};

// 1/√(var + eps), elementwise.
Tensor inverse_std(const Tensor& var, double eps) { return kernels::rsqrt(kernels::affine(var, 1.0, eps)); }

void check_running(const Tensor& t, int64_t channels, const char* what, const Shape& input_shape) {
  if (t.defined() && (t.dim() != 1 || t.shape()[0] != channels))
    throw std::invalid_argument(fmt::format("batch_norm: {} of shape {} does not match the {} channels of input {}",
                                            what, shape_str(t.shape()), channels, shape_str(input_shape)));
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_defined(input, "batch_norm");
  if (input.dim() < 2)
    throw std::invalid_argument(fmt::format("batch_norm: expected an input [N, C, *] of at least 2 dims, got shape {}",
                                            shape_str(input.shape())));
  const int64_t channels = input.shape()[1];
  check_running(running_mean, channels, "running_mean", input.shape());
  check_running(running_var, channels, "running_var", input.shape());
  if (running_mean.defined() != running_var.defined())
    throw std::invalid_argument("batch_norm: running_mean and running_var must be given together");
  if (eps <= 0) throw std::invalid_argument(fmt::format("batch_norm: eps must be positive, got {}", eps));

  Tensor mean, invstd;
  if (training) {
    const int64_t count = channels == 0 ? 0 : input.numel() / channels;
    if (count <= 1)
      throw std::invalid_argument(fmt::format(
          "batch_norm: expected more than 1 value per channel when training, got input of shape {}",
          shape_str(input.shape())));
    Tensor var;
    std::tie(mean, var) = kernels::batch_norm_stats(input);
    invstd = inverse_std(var, eps);
    if (running_mean.defined()) {
      // PyTorch's update: the mean as normalised with, the variance unbiased (× M / (M − 1)).
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      kernels::copy(running_mean,
                    kernels::add_scaled(kernels::affine(running_mean, 1.0 - momentum, 0.0), mean, momentum));
      kernels::copy(running_var,
                    kernels::add_scaled(kernels::affine(running_var, 1.0 - momentum, 0.0), var, momentum * unbias));
    }
  } else {
    if (!running_mean.defined())
      throw std::invalid_argument("batch_norm: running_mean and running_var are needed when not training");
    // Copies in the input's dtype: later updates of the buffers must not change what backward sees.
    mean = kernels::contiguous_copy(running_mean, input.dtype());
    invstd = inverse_std(kernels::contiguous_copy(running_var, input.dtype()), eps);
  }
  Tensor y = kernels::batch_norm_apply(input, mean, invstd, weight, bias);
  if (any_requires_grad({input, weight, bias}))
    connect(std::make_shared<BatchNormBackward>(input, mean, invstd, weight, training), {input, weight, bias}, {y});
  return y;
}

}  // namespace focus
