#include "nn/gradcheck.h"

#include <fmt/format.h>

namespace focus::nn {

namespace {

// What nn::gradcheck changes in a module, kept aside and put back on the way out (also when the check
// throws): every parameter and buffer as it was, and every parameter's gradient. A floating tensor of
// another dtype gets its own tensor back (the same storage: the same values and layout; the check
// worked on a float64 copy). One the check works on directly (float64 already, or an integer
// buffer such as BatchNorm's num_batches_tracked) is copied aside and written back, since the
// check's forward passes may change it in place (running statistics).
class ModuleStateRestorer {
 public:
  explicit ModuleStateRestorer(Module& module) {
    for (const auto& [_, t] : module.named_parameters()) keep(t, t.grad());
    for (const auto& [_, t] : module.named_buffers()) keep(t, Tensor());
  }
  ~ModuleStateRestorer() {
    for (Original& original : originals_) {
      if (original.converted)
        original.handle.set_data(original.data);
      else
        original.handle.copy_(original.data);
      original.handle.set_grad(original.grad);
    }
  }
  ModuleStateRestorer(const ModuleStateRestorer&) = delete;
  ModuleStateRestorer& operator=(const ModuleStateRestorer&) = delete;

 private:
  struct Original {
    Tensor handle;  // shares the module's TensorImpl: set_data through it reaches the layer's member
    Tensor data;    // a view of the original storage, or a copy of the values
    Tensor grad;
    bool converted;  // Module::to(kFloat64) gives it new storage
  };
  void keep(const Tensor& t, const Tensor& grad) {
    const bool converted = is_floating(t.dtype()) && t.dtype() != kFloat64;
    originals_.push_back({t, converted ? t.detach() : t.detach().clone(), grad, converted});
  }
  std::vector<Original> originals_;
};

}  // namespace

GradcheckResult gradcheck(Module& module, const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, GradcheckOptions options) {
  ModuleStateRestorer restore_afterwards(module);
  module.to(kFloat64);
  std::vector<Tensor> leaves;
  std::vector<std::pair<std::string, Tensor>> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor in = inputs[i];
    std::string name = i < options.input_names.size() ? options.input_names[i] : fmt::format("input {}", i);
    if (in.defined() && in.requires_grad()) {
      in = in.detach();
      in.requires_grad_(true);
      checked.emplace_back(name, in);
    }
    leaves.push_back(in);
  }
  for (auto& [name, p] : module.named_parameters())
    if (p.requires_grad()) checked.emplace_back(name, p);
  return gradcheck_leaves([&] { return fn(leaves); }, checked, options);
}

}  // namespace focus::nn
