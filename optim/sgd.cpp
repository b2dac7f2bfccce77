#include "optim/sgd.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/kernels.h"

namespace focus::optim {

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), options_(options) {
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
    throw std::invalid_argument("SGD: Nesterov momentum needs momentum > 0 and dampening = 0");
  if (options.momentum < 0) throw std::invalid_argument(fmt::format("SGD: invalid momentum {}", options.momentum));
}

void SGD::step() {
  // torch.optim.SGD:  g ← ∇ + λθ;  b ← μb + (1−τ)g (b = g on the first step);
  //                   g ← g + μb (Nesterov) or g ← b;  θ ← θ − γg
  // The arithmetic is one fused pass per parameter, on the parameter's device (kernels::sgd_step).
  size_t index = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      size_t param_index = index++;
      if (!p.grad().defined()) continue;
      check_updatable(p, "SGD");
      kernels::SGDStepOptions step;
      step.lr = group.lr;
      step.momentum = options_.momentum;
      step.dampening = options_.dampening;
      step.weight_decay = group.weight_decay;
      step.nesterov = options_.nesterov;
      step.first_step = step_count(param_index)++ == 0;
      const Tensor momentum_buffer = step.momentum != 0 ? buffer(param_index, "momentum_buffer", p) : Tensor();
      kernels::sgd_step(p, p.grad(), momentum_buffer, step);
    }
  }
}

}  // namespace focus::optim
