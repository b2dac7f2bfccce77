#pragma once
#include "optim/optimizer.h"

namespace focus::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

/// Stochastic gradient descent with momentum, as torch.optim.SGD documents it.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions options = {});
  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  std::string type_name() const override { return "SGD"; }

 private:
  SGDOptions options_;
};

}  // namespace focus::optim
