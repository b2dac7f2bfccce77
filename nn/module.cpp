#include "nn/module.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "autograd/grad_mode.h"
#include "tensor/kernels.h"

namespace focus::nn {

void Module::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument(fmt::format("{}: invalid name '{}' (non-empty, no dots)", type_name(), name));
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    throw std::invalid_argument(fmt::format("{}: the name '{}' is already registered", type_name(), name));
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_new_name(name);
  check_defined(tensor, "register_parameter");
  if (!tensor.is_leaf()) tensor = tensor.detach();
  if (requires_grad) tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name);
  check_defined(tensor, "register_buffer");
  buffers_.emplace_back(name, tensor.detach());
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  if (!module) throw std::invalid_argument(fmt::format("{}: submodule '{}' is null", type_name(), name));
  children_.emplace_back(name, std::move(module));
}

template <typename Visit>
void Module::visit_tensors(const std::string& prefix, bool recurse, bool params, Visit&& visit) const {
  for (const auto& [name, t] : params ? parameters_ : buffers_) visit(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->visit_tensors(prefix + name + ".", true, params, visit);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit_tensors("", recurse, true, [&](const std::string& n, const Tensor& t) { out.emplace_back(n, t); });
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  visit_tensors("", recurse, true, [&](const std::string&, const Tensor& t) { out.push_back(t); });
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit_tensors("", recurse, false, [&](const std::string& n, const Tensor& t) { out.emplace_back(n, t); });
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  visit_tensors("", recurse, false, [&](const std::string&, const Tensor& t) { out.push_back(t); });
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [_, child] : children_) out.push_back(child);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  std::vector<std::pair<std::string, Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, module] = stack.back();
    stack.pop_back();
    out.emplace_back(prefix, module);
    // Push in reverse so children come out in registration order.
    for (auto it = module->children_.rbegin(); it != module->children_.rend(); ++it)
      stack.emplace_back(prefix.empty() ? it->first : prefix + "." + it->first, it->second.get());
  }
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (set_to_none)
      p.set_grad({});
    else if (p.grad().defined())
      p.grad().zero_();
  }
}

void Module::to(Device device) {
  for (auto* list : {&parameters_, &buffers_})
    for (auto& [_, t] : *list)
      if (t.device() != device) {
        t.set_data(t.detach().to(device));
        if (t.grad().defined()) t.set_grad(t.grad().to(device));  // gradients live beside their parameters
      }
  for (auto& [_, child] : children_) child->to(device);
}

void Module::to(DType dtype) {
  for (auto* list : {&parameters_, &buffers_})
    for (auto& [_, t] : *list)
      if (is_floating(t.dtype()) && t.dtype() != dtype) {
        t.set_data(kernels::contiguous_copy(t, dtype));
        t.set_grad({});
      }
  for (auto& [_, child] : children_) child->to(dtype);
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

StateDict Module::state_dict() const {
  StateDict out;
  // Per module: parameters then buffers, modules in registration order (PyTorch's order).
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, module] = stack.back();
    stack.pop_back();
    for (const auto& [name, t] : module->parameters_) out.emplace_back(prefix + name, t);
    for (const auto& [name, t] : module->buffers_) out.emplace_back(prefix + name, t);
    for (auto it = module->children_.rbegin(); it != module->children_.rend(); ++it)
      stack.emplace_back(prefix + it->first + ".", it->second.get());
  }
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict mine = state_dict();
  std::unordered_map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;

  std::vector<std::string> missing, mis_shaped, unexpected;
  for (const auto& [name, t] : mine) {
    auto it = given.find(name);
    if (it == given.end())
      missing.push_back(name);
    else if (it->second->shape() != t.shape())
      mis_shaped.push_back(fmt::format("{} (checkpoint {}, model {})", name, shape_str(it->second->shape()),
                                       shape_str(t.shape())));
  }
  std::unordered_map<std::string, bool> known;
  for (const auto& [name, _] : mine) known[name] = true;
  // Names from a file are shown escaped ("\x0fptimizer...") when they hold anything but plain ASCII,
  // so a message never carries control bytes or broken UTF-8 to the terminal.
  auto shown = [](const std::string& name) {
    const bool plain = std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    return plain ? name : fmt::format("{:?}", name);
  };
  for (const auto& [name, _] : state)
    if (!known.count(name)) unexpected.push_back(shown(name));

  if (!mis_shaped.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::string message = fmt::format("load_state_dict into {}:", type_name());
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      message += fmt::format("\n  {} ({}):", what, names.size());
      for (const auto& n : names) message += "\n    " + n;
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("wrong shape", mis_shaped);
    throw std::invalid_argument(message);
  }
  NoGradGuard no_grad;
  for (auto& [name, t] : mine) {
    auto it = given.find(name);
    if (it != given.end()) t.copy_(it->second->device() == t.device() ? *it->second : it->second->to(t.device()));
  }
}

std::string Module::summary() {
  std::string out = fmt::format("{:<40} {:<22} {:>12}\n", "Layer (type)", "Output shape", "Param #");
  out += std::string(76, '=') + "\n";
  for (auto& [name, module] : named_modules()) {
    if (name.empty() && !module->children_.empty()) continue;  // the model itself: totals below
    int64_t own = 0;
    for (const auto& [_, p] : module->parameters_) own += p.numel();
    int depth = static_cast<int>(std::count(name.begin(), name.end(), '.'));
    std::string label = std::string(2 * depth, ' ') + (name.empty() ? "" : name + " ") + "(" + module->type_name() + ")";
    std::string shape = module->last_output_shape_.empty() ? "-" : shape_str(module->last_output_shape_);
    out += fmt::format("{:<40} {:<22} {:>12}\n", label, shape, own);
  }
  out += std::string(76, '=') + "\n";
  int64_t total = num_parameters(), trainable = num_parameters(true);
  out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n", total, trainable,
                     total - trainable);
  return out;
}

}  // namespace focus::nn
