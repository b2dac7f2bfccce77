#include "optim/adam.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "tensor/cpu/loops.h"

namespace focus::optim {

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), options_(options) {
  if (options.beta1 < 0 || options.beta1 >= 1 || options.beta2 < 0 || options.beta2 >= 1)
    throw std::invalid_argument(fmt::format("Adam: betas must be in [0, 1), got ({}, {})", options.beta1, options.beta2));
  if (options.eps < 0) throw std::invalid_argument(fmt::format("Adam: invalid eps {}", options.eps));
}

void Adam::step() { adam_step(false); }

AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions options) : Adam(std::move(groups), options) {}

void Adam::adam_step(bool decoupled) {
  // torch.optim.Adam / AdamW, step t:
  //   AdamW: θ ← θ(1 − γλ)                 Adam: g ← ∇ + λθ
  //   m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²
  //   m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)  (AMSGrad: v̂ from v_max ← max(v_max, v))
  //   θ ← θ − γ·m̂/(√v̂ + ε)
  const double beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
  const std::string name = type_name();
  size_t index = 0;
  for (ParamGroup& group : groups_) {
    const double lr = group.lr, wd = group.weight_decay;
    for (Tensor& p : group.params) {
      size_t param_index = index++;
      if (!p.grad().defined()) continue;
      check_updatable(p, name.c_str());
      int64_t t = ++step_count(param_index);
      Tensor& exp_avg = buffer(param_index, "exp_avg", p);
      Tensor& exp_avg_sq = buffer(param_index, "exp_avg_sq", p);
      Tensor max_exp_avg_sq = options_.amsgrad ? buffer(param_index, "max_exp_avg_sq", p) : Tensor();
      // Same arithmetic order as PyTorch: step_size = γ/bc1, denom = √v/√bc2 + ε.
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(t));
      const double bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, static_cast<double>(t)));
      const double step_size = lr / bias_correction1;
      const bool amsgrad = options_.amsgrad;
      cpu::dispatch_floating(p.dtype(), name.c_str(), [&]<typename T>() {
        T* theta = p.data<T>();
        const T* grad = p.grad().template data<T>();
        T* m = exp_avg.data<T>();
        T* v = exp_avg_sq.data<T>();
        T* v_max = amsgrad ? max_exp_avg_sq.data<T>() : nullptr;
        const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
        const T decay = static_cast<T>(1 - lr * wd), l2 = static_cast<T>(wd);
        const T bc2 = static_cast<T>(bias_correction2_sqrt), e = static_cast<T>(eps);
        const T step = static_cast<T>(step_size);
        parallel_for(0, p.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            T g = grad[i];
            if (decoupled)
              theta[i] *= decay;
            else
              g += l2 * theta[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            T second = v[i];
            if (v_max) second = v_max[i] = std::max(v_max[i], v[i]);
            theta[i] -= step * m[i] / (std::sqrt(second) / bc2 + e);
          }
        });
      });
    }
  }
}

}  // namespace focus::optim
