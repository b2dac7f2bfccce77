#include "nn/gradcheck.h"

#include <fmt/format.h>

namespace focus::nn {

GradcheckResult gradcheck(Module& module, const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, GradcheckOptions options) {
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
