#pragma once
// Module: the base of every layer and model. Parameters, buffers and submodules
// are registered by name into ordered lists, so named_parameters() gives the
// dotted names checkpoints use ("encoder.lstm.weight_ih_l0"), as in PyTorch.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace focus::nn {

/// Name → tensor, in registration order (parameters first, then buffers, per module).
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The layer's type as shown by summary() and errors, e.g. "Linear".
  virtual std::string type_name() const { return "Module"; }
  /// Options shown beside the type, e.g. "in_features=3, out_features=4".
  virtual std::string extra_repr() const { return ""; }

  // ---- registration -------------------------------------------------------------
  /// Adds a trainable tensor (requires_grad is switched on). Returns the handle stored.
  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  /// Adds state that is saved and moved with the module but not trained (e.g. running means).
  Tensor& register_buffer(const std::string& name, Tensor tensor);
  /// Adds a submodule; its parameters appear as "<name>.<param>".
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- traversal ------------------------------------------------------------------
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  /// This module ("") and every descendant, with dotted names, depth first.
  std::vector<std::pair<std::string, Module*>> named_modules();

  // ---- modes and housekeeping ---------------------------------------------------
  /// Training mode (dropout active, batch norm uses batch statistics) for this module and all below.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears the gradients of all parameters (set to none, or to zeros).
  void zero_grad(bool set_to_none = true);
  /// Moves parameters and buffers; handles held by layers stay valid.
  void to(Device device);
  /// Converts floating parameters and buffers (e.g. to float64 for gradcheck).
  void to(DType dtype);
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- checkpoints --------------------------------------------------------------
  /// Parameters and buffers by dotted name (the data is shared, not copied).
  StateDict state_dict() const;
  /// Copies values in by name. With `strict`, any missing, unexpected or mis-shaped
  /// entry fails with one message listing all of them; nothing is changed then.
  void load_state_dict(const StateDict& state, bool strict = true);

  // ---- summary ----------------------------------------------------------------------
  /// Called by layers at the end of forward(): remembers the output shape for summary().
  void record_output_shape(const Shape& shape) { last_output_shape_ = shape; }
  const Shape& last_output_shape() const { return last_output_shape_; }
  /// A table like torchinfo's: every module with its type, last output shape and
  /// parameter count, then totals. Run one forward pass first to fill the shapes.
  std::string summary();

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  template <typename Visit>
  void visit_tensors(const std::string& prefix, bool recurse, bool params, Visit&& visit) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  Shape last_output_shape_;
};

}  // namespace focus::nn
