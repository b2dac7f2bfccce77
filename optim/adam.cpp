#include "optim/adam.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/kernels.h"

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
  // The arithmetic is one fused pass per parameter, on the parameter's device (kernels::adam_step).
  const std::string name = type_name();
  size_t index = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      size_t param_index = index++;
      if (!p.grad().defined()) continue;
      check_updatable(p, name.c_str());
      kernels::AdamStepOptions step;
      step.lr = group.lr;
      step.beta1 = options_.beta1;
      step.beta2 = options_.beta2;
      step.eps = options_.eps;
      step.weight_decay = group.weight_decay;
      step.step = ++step_count(param_index);
      step.decoupled_weight_decay = decoupled;
      const Tensor& exp_avg = buffer(param_index, "exp_avg", p);
      const Tensor& exp_avg_sq = buffer(param_index, "exp_avg_sq", p);
      const Tensor max_exp_avg_sq = options_.amsgrad ? buffer(param_index, "max_exp_avg_sq", p) : Tensor();
      kernels::adam_step(p, p.grad(), exp_avg, exp_avg_sq, max_exp_avg_sq, step);
    }
  }
}

}  // namespace focus::optim
