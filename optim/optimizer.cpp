#include "optim/optimizer.h"

#include <fmt/format.h>

#include <stdexcept>

namespace focus::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_weight_decay)
    : groups_(std::move(groups)) {
  if (default_lr < 0) throw std::invalid_argument(fmt::format("optimizer: invalid learning rate {}", default_lr));
  for (size_t g = 0; g < groups_.size(); ++g) {
    ParamGroup& group = groups_[g];
    if (group.lr < 0) group.lr = default_lr;
    if (group.weight_decay < 0) group.weight_decay = default_weight_decay;
    for (const Tensor& p : group.params) {
      check_defined(p, "optimizer");
      if (!p.requires_grad())
        throw std::invalid_argument(fmt::format(
            "optimizer: a parameter of shape {} in group {} does not require grad", shape_str(p.shape()), g));
    }
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (ParamGroup& group : groups_)
    for (Tensor& p : group.params) {
      if (set_to_none)
        p.set_grad({});
      else if (p.grad().defined())
        p.grad().zero_();
    }
}

Tensor& Optimizer::buffer(size_t param_index, const std::string& name, const Tensor& like) {
  auto& slot = buffers_[param_index][name];
  if (!slot.defined()) slot = zeros(like.shape(), TensorOptions(like.dtype()).with_device(like.device()));
  return slot;
}

const Tensor* Optimizer::find_buffer(size_t param_index, const std::string& name) const {
  auto it = buffers_.find(param_index);
  if (it == buffers_.end()) return nullptr;
  auto jt = it->second.find(name);
  return jt == it->second.end() ? nullptr : &jt->second;
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState state;
  state.values["type"] = type_name();
  state.values["groups"] = std::to_string(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    state.values[fmt::format("group.{}.lr", g)] = fmt::format("{:.17g}", groups_[g].lr);
    state.values[fmt::format("group.{}.weight_decay", g)] = fmt::format("{:.17g}", groups_[g].weight_decay);
    state.values[fmt::format("group.{}.size", g)] = std::to_string(groups_[g].params.size());
  }
  for (const auto& [index, named] : buffers_)
    for (const auto& [name, t] : named) state.tensors.emplace_back(fmt::format("state.{}.{}", index, name), t);
  for (const auto& [index, steps] : steps_) state.values[fmt::format("state.{}.step", index)] = std::to_string(steps);
  return state;
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  auto value = [&](const std::string& key) -> const std::string& {
    auto it = state.values.find(key);
    if (it == state.values.end())
      throw std::invalid_argument(fmt::format("{}::load_state_dict: missing '{}'", type_name(), key));
    return it->second;
  };
  if (value("type") != type_name())
    throw std::invalid_argument(
        fmt::format("{}::load_state_dict: the state was saved by {}", type_name(), value("type")));
  if (std::stoul(value("groups")) != groups_.size())
    throw std::invalid_argument(fmt::format("{}::load_state_dict: {} parameter groups saved, {} here", type_name(),
                                            value("groups"), groups_.size()));
  std::vector<const Tensor*> params;
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (std::stoul(value(fmt::format("group.{}.size", g))) != groups_[g].params.size())
      throw std::invalid_argument(fmt::format("{}::load_state_dict: group {} has {} parameters saved, {} here",
                                              type_name(), g, value(fmt::format("group.{}.size", g)),
                                              groups_[g].params.size()));
    for (const Tensor& p : groups_[g].params) params.push_back(&p);
  }
  std::map<size_t, std::map<std::string, Tensor>> buffers;
  for (const auto& [key, t] : state.tensors) {
    // key = "state.<index>.<name>"
    size_t first = key.find('.'), second = key.find('.', first + 1);
    if (key.rfind("state.", 0) != 0 || second == std::string::npos)
      throw std::invalid_argument(fmt::format("{}::load_state_dict: unexpected tensor '{}'", type_name(), key));
    size_t index = std::stoul(key.substr(first + 1, second - first - 1));
    if (index >= params.size() || t.shape() != params[index]->shape())
      throw std::invalid_argument(fmt::format("{}::load_state_dict: '{}' of shape {} does not match parameter {}",
                                              type_name(), key, shape_str(t.shape()), index));
    buffers[index][key.substr(second + 1)] = t.clone().to(params[index]->device());
  }
  std::map<size_t, int64_t> steps;
  for (const auto& [key, text] : state.values) {
    if (key.rfind("state.", 0) == 0 && key.size() > 5 && key.compare(key.size() - 5, 5, ".step") == 0)
      steps[std::stoul(key.substr(6))] = std::stoll(text);
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = std::stod(value(fmt::format("group.{}.lr", g)));
    groups_[g].weight_decay = std::stod(value(fmt::format("group.{}.weight_decay", g)));
  }
  buffers_ = std::move(buffers);
  steps_ = std::move(steps);
}

std::vector<ParamGroup> groups_of(const nn::Module& module) { return {ParamGroup{module.parameters()}}; }

void check_updatable(const Tensor& param, const char* optimizer) {
  const Tensor grad = param.grad();
  if (!param.is_contiguous() || !grad.is_contiguous() || grad.shape() != param.shape() ||
      grad.dtype() != param.dtype() || !is_floating(param.dtype()))
    throw std::invalid_argument(fmt::format(
        "{}: parameters and gradients must be contiguous float tensors of one shape (parameter {} {}, gradient {} {})",
        optimizer, shape_str(param.shape()), dtype_name(param.dtype()), shape_str(grad.shape()),
        dtype_name(grad.dtype())));
}

}  // namespace focus::optim
