#include "optim/lookahead.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"

namespace focus::optim {

Lookahead::Lookahead(const nn::Module& module) {
  for (auto& named : module.named_parameters()) fast_.push_back(named);
  for (auto& named : module.named_buffers())
    if (named.second.defined() && is_floating(named.second.dtype())) fast_.push_back(named);
  reset();
}

void Lookahead::reset() {
  NoGradGuard no_grad;
  slow_.clear();
  for (auto& [name, fast] : fast_) slow_.push_back(fast.detach().clone());
}

void Lookahead::update(double decay) {
  if (!(decay >= 0 && decay <= 1))
    throw std::invalid_argument(fmt::format("Lookahead::update: decay must be in [0, 1], got {}", decay));
  NoGradGuard no_grad;
  for (size_t i = 0; i < fast_.size(); ++i) {
    Tensor& fast = fast_[i].second;
    if (slow_[i].shape() != fast.shape() || slow_[i].device() != fast.device())
      throw std::logic_error(fmt::format(
          "Lookahead::update: '{}' is now {} on {}, its slow copy {} on {}; call reset() after changing the model",
          fast_[i].first, shape_str(fast.shape()), fast.device().str(), shape_str(slow_[i].shape()),
          slow_[i].device().str()));
    if (decay < 1) slow_[i].copy_(slow_[i] + (fast.detach() - slow_[i]) * (1 - decay));
    fast.copy_(slow_[i]);
  }
}

double Lookahead::scheduled_decay(int64_t step, int64_t total, double base, int every) {
  if (total <= 0) throw std::invalid_argument(fmt::format("Lookahead::scheduled_decay: total must be > 0, got {}", total));
  const double progress = std::clamp(static_cast<double>(step) / static_cast<double>(total), 0.0, 1.0);
  return std::pow(base, every) * progress * progress * progress;
}

}  // namespace focus::optim
