#include "optim/sgd.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/cpu/loops.h"

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
  const double mu = options_.momentum, tau = options_.dampening;
  size_t index = 0;
  for (ParamGroup& group : groups_) {
    const double lr = group.lr, wd = group.weight_decay;
    for (Tensor& p : group.params) {
      size_t param_index = index++;
      if (!p.grad().defined()) continue;
      check_updatable(p, "SGD");
      bool first = step_count(param_index)++ == 0;
      Tensor momentum_buffer = mu != 0 ? buffer(param_index, "momentum_buffer", p) : Tensor();
      cpu::dispatch_floating(p.dtype(), "SGD", [&]<typename T>() {
        T* theta = p.data<T>();
        const T* grad = p.grad().template data<T>();
        T* b = mu != 0 ? momentum_buffer.data<T>() : nullptr;
        // One pass over memory per parameter; the loop body vectorises.
        parallel_for(0, p.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            T g = grad[i] + static_cast<T>(wd) * theta[i];
            if (b) {
              b[i] = first ? g : static_cast<T>(mu) * b[i] + static_cast<T>(1 - tau) * g;
              g = options_.nesterov ? g + static_cast<T>(mu) * b[i] : b[i];
            }
            theta[i] -= static_cast<T>(lr) * g;
          }
        });
      });
    }
  }
}

}  // namespace focus::optim
