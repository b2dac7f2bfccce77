#pragma once
// Optimizer: updates parameters from their gradients. Parameters come in groups,
// each with its own learning rate and weight decay (e.g. no decay on biases).
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace focus::optim {

/// Parameters that share a learning rate and weight decay. A negative value
/// means "use the optimizer's default".
struct ParamGroup {
  std::vector<Tensor> params;
  double lr = -1.0;
  double weight_decay = -1.0;
};

/// What an optimizer needs to resume exactly: its per-parameter tensors (moments,
/// momentum buffers) by name, and scalars (step counts, group learning rates) as text.
struct OptimizerState {
  nn::StateDict tensors;
  std::map<std::string, std::string> values;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_weight_decay);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient.
  virtual void step() = 0;
  /// Clears the gradients: set to none (default, frees memory) or to zeros.
  void zero_grad(bool set_to_none = true);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }

  OptimizerState state_dict() const;
  /// Restores state saved by state_dict() of the same optimizer type over the
  /// same parameter shapes; throws naming the first mismatch.
  void load_state_dict(const OptimizerState& state);

 protected:
  /// Subclasses name their per-parameter buffers ("exp_avg") and keep them here,
  /// indexed by the parameter's position across all groups (PyTorch's numbering).
  Tensor& buffer(size_t param_index, const std::string& name, const Tensor& like);
  const Tensor* find_buffer(size_t param_index, const std::string& name) const;
  /// Number of steps taken for one parameter (for bias correction).
  int64_t& step_count(size_t param_index) { return steps_[param_index]; }
  virtual std::string type_name() const = 0;

  std::vector<ParamGroup> groups_;

 private:
  std::map<size_t, std::map<std::string, Tensor>> buffers_;
  std::map<size_t, int64_t> steps_;
};

/// Wraps a module's trainable parameters (those that require grad) into one group: a frozen
/// parameter is left out, as `filter(lambda p: p.requires_grad, model.parameters())` in PyTorch.
std::vector<ParamGroup> groups_of(const nn::Module& module);

/// Throws unless `param` and its gradient are contiguous float tensors of one shape
/// (the fused update loops walk raw memory).
void check_updatable(const Tensor& param, const char* optimizer);

}  // namespace focus::optim
