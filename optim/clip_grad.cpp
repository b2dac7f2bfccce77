#include "optim/clip_grad.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "tensor/cpu/loops.h"
#include "tensor/kernels.h"

namespace focus::optim {

namespace {
// The norm of one gradient, accumulated in double.
double gradient_norm(const Tensor& grad, double norm_type) {
  Tensor g = grad.is_contiguous() ? grad : grad.contiguous();
  return cpu::dispatch_floating(g.dtype(), "clip_grad_norm_", [&]<typename T>() {
    const T* x = g.data<T>();
    const int64_t n = g.numel();
    if (std::isinf(norm_type)) {
      double largest = 0;
      for (int64_t i = 0; i < n; ++i) {
        double a = std::abs(static_cast<double>(x[i]));
        if (std::isnan(a)) return a;
        largest = std::max(largest, a);
      }
      return largest;
    }
    double total = 0;
    if (norm_type == 2.0) {
      for (int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      return std::sqrt(total);
    }
    for (int64_t i = 0; i < n; ++i) total += std::pow(std::abs(static_cast<double>(x[i])), norm_type);
    return std::pow(total, 1.0 / norm_type);
  });
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  if (norm_type <= 0) throw std::invalid_argument(fmt::format("clip_grad_norm_: invalid norm_type {}", norm_type));
  std::vector<double> norms;
  std::vector<size_t> owners;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].grad().defined()) continue;
    norms.push_back(gradient_norm(params[i].grad(), norm_type));
    owners.push_back(i);
  }
  if (norms.empty()) return 0.0;
  double total;
  if (std::isinf(norm_type)) {
    total = 0;
    for (double n : norms) total = std::isnan(n) || std::isnan(total) ? NAN : std::max(total, n);
  } else {
    total = 0;
    for (double n : norms) total += std::pow(n, norm_type);
    total = std::pow(total, 1.0 / norm_type);
  }
  if (!std::isfinite(total)) {
    if (error_if_nonfinite) {
      for (size_t k = 0; k < norms.size(); ++k)
        if (!std::isfinite(norms[k]))
          throw std::runtime_error(fmt::format(
              "clip_grad_norm_: the total gradient norm is {} because parameter {} (shape {}) has non-finite "
              "gradients; lower the learning rate, check the loss for NaN, or pass error_if_nonfinite = false "
              "to skip such steps",
              total, owners[k], shape_str(params[owners[k]].shape())));
      throw std::runtime_error(fmt::format("clip_grad_norm_: the total gradient norm overflowed to {}", total));
    }
    return total;
  }
  double scale = max_norm / (total + 1e-6);  // PyTorch's epsilon
  if (scale < 1.0)
    for (size_t i : owners) {
      Tensor g = params[i].grad();
      g.copy_(kernels::affine(g, scale, 0.0));
    }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (clip_value < 0) throw std::invalid_argument(fmt::format("clip_grad_value_: invalid clip value {}", clip_value));
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(kernels::clamp(g, -clip_value, clip_value));
  }
}

}  // namespace focus::optim
