#pragma once
#include "optim/optimizer.h"

namespace focus::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  ///< Adam: L2 added to the gradient; AdamW: decoupled decay
  bool amsgrad = false;
};

/// Adam (Kingma & Ba, 2015) with bias correction and optional AMSGrad, as
/// torch.optim.Adam documents it. Weight decay is L2: added to the gradient.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  void step() override;
  const AdamOptions& options() const { return options_; }

 protected:
  std::string type_name() const override { return "Adam"; }
  /// Shared by Adam and AdamW: `decoupled` picks how weight decay applies.
  void adam_step(bool decoupled);

 private:
  AdamOptions options_;
};

/// AdamW (Loshchilov & Hutter, 2019): weight decay decoupled from the gradient,
/// θ ← θ(1 − γλ) before the Adam update, as torch.optim.AdamW documents it.
/// Default weight decay 0.01 like PyTorch.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamOptions options = default_options());
  void step() override { adam_step(true); }
  static AdamOptions default_options() {
    AdamOptions o;
    o.weight_decay = 0.01;
    return o;
  }

 protected:
  std::string type_name() const override { return "AdamW"; }
};

}  // namespace focus::optim
