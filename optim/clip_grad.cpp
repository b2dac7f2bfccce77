#include "optim/clip_grad.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "tensor/kernels.h"

namespace focus::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  if (norm_type <= 0) throw std::invalid_argument(fmt::format("clip_grad_norm_: invalid norm_type {}", norm_type));
  // Everything up to the returned double stays on the gradients' device: per gradient Σ|g|^p
  // (max|g| for ∞) in float64, combined into the total norm, turned into the clipping factor.
  std::vector<Tensor> pieces;
  std::vector<size_t> owners;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].grad().defined()) continue;
    pieces.push_back(kernels::norm_power_sum(params[i].grad(), norm_type));
    owners.push_back(i);
  }
  if (pieces.empty()) return 0.0;
  const bool infinity_norm = std::isinf(norm_type);
  const Tensor per_gradient = kernels::stack(pieces, 0);  // [K] float64, every entry ≥ 0 (or NaN)
  // ‖(‖g₁‖, ‖g₂‖, …)‖ = (Σ_k Σ|g_k|^p)^(1/p), or the largest max|g_k| (NaN wins).
  Tensor total = kernels::norm_power_sum(per_gradient, infinity_norm ? norm_type : 1.0);
  if (!infinity_norm) total = norm_type == 2.0 ? kernels::sqrt(total) : kernels::pow_scalar(total, 1.0 / norm_type);

  // factor = min(1, max_norm / (total + 1e-6)) (PyTorch's epsilon), and 1 when the norm is not finite:
  // NaN or inf gradients are left as they are, so the caller can skip the step.
  const TensorOptions on_device = TensorOptions(kFloat64).with_device(total.device());
  auto constant = [&](double value) { return full({}, value, on_device); };
  Tensor factor = kernels::clamp(kernels::div(constant(max_norm), kernels::affine(total, 1.0, 1e-6)), std::nullopt,
                                 1.0);
  factor = kernels::where(kernels::lt(total, constant(std::numeric_limits<double>::infinity())), factor,
                          constant(1.0));

  // On the CPU the norm is known without waiting for anything, and gradients that need no clipping
  // are not multiplied by 1. On a GPU, reading it first would stall the queue: every gradient is
  // multiplied by the device-side factor (1 where nothing is clipped), as PyTorch does.
  const bool norm_on_host = total.device().is_cpu();
  double total_norm = norm_on_host ? total.item<double>() : 0.0;
  if (!norm_on_host || (std::isfinite(total_norm) && max_norm / (total_norm + 1e-6) < 1.0)) {
    Tensor factor_as[2];  // the factor in float32 and float64, made when first needed
    for (size_t i : owners) {
      Tensor g = params[i].grad();
      Tensor& typed = factor_as[g.dtype() == kFloat64 ? 1 : 0];
      if (!typed.defined()) typed = kernels::contiguous_copy(factor, g.dtype());
      g.copy_(kernels::mul(g, typed));
    }
  }
  // The one wait for the GPU: this API returns the norm as a double (PyTorch returns a tensor).
  if (!norm_on_host) total_norm = total.item<double>();

  if (!std::isfinite(total_norm) && error_if_nonfinite) {
    // The error path may wait for the device again: name the first parameter at fault.
    const std::vector<double> norms = per_gradient.to(kCPU).to_vector<double>();
    for (size_t k = 0; k < norms.size(); ++k)
      if (!std::isfinite(norms[k]))
        throw std::runtime_error(fmt::format(
            "clip_grad_norm_: the total gradient norm is {} because parameter {} (shape {}) has non-finite "
            "gradients; lower the learning rate, check the loss for NaN, or pass error_if_nonfinite = false "
            "to skip such steps",
            total_norm, owners[k], shape_str(params[owners[k]].shape())));
    throw std::runtime_error(fmt::format("clip_grad_norm_: the total gradient norm overflowed to {}", total_norm));
  }
  return total_norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (clip_value < 0) throw std::invalid_argument(fmt::format("clip_grad_value_: invalid clip value {}", clip_value));
  // kernels::clamp runs where the gradient lives: no copy to the host.
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(kernels::clamp(g, -clip_value, clip_value));
  }
}

}  // namespace focus::optim
