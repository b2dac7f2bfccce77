#include "optim/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

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

namespace {

// A key or name from a saved state as a message shows it: between `quote`s when it is plain ASCII,
// else escaped ("\x0fstate.0.step"), so a damaged file never puts control bytes or broken UTF-8
// into a message (nn/module.cpp shows tensor names the same way).
std::string shown(const std::string& name, const char* quote = "'") {
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  return plain ? fmt::format("{}{}{}", quote, name, quote) : fmt::format("{:?}", name);
}

// Numbers read back from a saved state: an error names the key and the text, never a bare stod/stoll.
double parse_number(const std::string& optimizer, const std::string& key, const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value))
    throw std::invalid_argument(
        fmt::format("{}::load_state_dict: {} is {:?}, not a finite number", optimizer, shown(key), text));
  return value;
}

int64_t parse_count(const std::string& optimizer, const std::string& key, const std::string& text, int64_t limit) {
  size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < 0 || value > limit)
    throw std::invalid_argument(fmt::format("{}::load_state_dict: {} is {:?}, not a count from 0 to {}", optimizer,
                                            shown(key), text, limit));
  return value;
}

// A step count stays exact in the doubles of bias corrections (2^53), and far from int64 overflow.
constexpr int64_t kMaxSteps = int64_t{1} << 53;

}  // namespace

void Optimizer::load_state_dict(const OptimizerState& state) {
  // Everything is read and checked into locals first; the optimizer changes only once all of it is
  // good, so a damaged state leaves it as it was.
  auto value = [&](const std::string& key) -> const std::string& {
    auto it = state.values.find(key);
    if (it == state.values.end())
      throw std::invalid_argument(fmt::format("{}::load_state_dict: missing '{}'", type_name(), key));
    return it->second;
  };
  if (value("type") != type_name())
    throw std::invalid_argument(
        fmt::format("{}::load_state_dict: the state was saved by {}", type_name(), shown(value("type"), "")));
  const int64_t group_count = parse_count(type_name(), "groups", value("groups"), 1 << 20);
  if (group_count != static_cast<int64_t>(groups_.size()))
    throw std::invalid_argument(fmt::format("{}::load_state_dict: {} parameter groups saved, {} here", type_name(),
                                            group_count, groups_.size()));
  std::vector<const Tensor*> params;
  std::vector<std::pair<double, double>> rates;  // (lr, weight_decay) per group
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string size_key = fmt::format("group.{}.size", g);
    const int64_t group_size = parse_count(type_name(), size_key, value(size_key), int64_t{1} << 40);
    if (group_size != static_cast<int64_t>(groups_[g].params.size()))
      throw std::invalid_argument(fmt::format("{}::load_state_dict: group {} has {} parameters saved, {} here",
                                              type_name(), g, group_size, groups_[g].params.size()));
    for (const Tensor& p : groups_[g].params) params.push_back(&p);
    const std::string lr_key = fmt::format("group.{}.lr", g), decay_key = fmt::format("group.{}.weight_decay", g);
    const double lr = parse_number(type_name(), lr_key, value(lr_key));
    const double weight_decay = parse_number(type_name(), decay_key, value(decay_key));
    if (lr < 0 || weight_decay < 0)
      throw std::invalid_argument(fmt::format("{}::load_state_dict: group {} has lr {} and weight decay {}; both must "
                                              "be >= 0",
                                              type_name(), g, lr, weight_decay));
    rates.emplace_back(lr, weight_decay);
  }
  // The index in "state.<index>..." of a saved tensor or step count.
  auto parameter_index = [&](const std::string& key, size_t first, size_t second) {
    const std::string text = key.substr(first + 1, second - first - 1);
    const int64_t index = parse_count(type_name(), key + " (its parameter index)", text,
                                      static_cast<int64_t>(params.size()) - 1);
    return static_cast<size_t>(index);
  };
  std::map<size_t, std::map<std::string, Tensor>> buffers;
  for (const auto& [key, t] : state.tensors) {
    // key = "state.<index>.<name>"
    size_t first = key.find('.'), second = key.find('.', first + 1);
    if (key.rfind("state.", 0) != 0 || second == std::string::npos)
      throw std::invalid_argument(fmt::format("{}::load_state_dict: unexpected tensor {}", type_name(), shown(key)));
    const size_t index = parameter_index(key, first, second);
    if (t.shape() != params[index]->shape() || !is_floating(t.dtype()))
      throw std::invalid_argument(fmt::format("{}::load_state_dict: {} ({} {}) does not match parameter {} ({} {})",
                                              type_name(), shown(key), dtype_name(t.dtype()), shape_str(t.shape()), index,
                                              dtype_name(params[index]->dtype()), shape_str(params[index]->shape())));
    buffers[index][key.substr(second + 1)] = t.clone().to(params[index]->device());
  }
  std::map<size_t, int64_t> steps;
  for (const auto& [key, text] : state.values) {
    if (key.rfind("state.", 0) == 0 && key.size() > 5 && key.compare(key.size() - 5, 5, ".step") == 0) {
      const size_t index = parameter_index(key, key.find('.'), key.size() - 5);
      steps[index] = parse_count(type_name(), key, text, kMaxSteps);
    }
  }
  for (size_t g = 0; g < groups_.size(); ++g) std::tie(groups_[g].lr, groups_[g].weight_decay) = rates[g];
  buffers_ = std::move(buffers);
  steps_ = std::move(steps);
}

std::vector<ParamGroup> groups_of(const nn::Module& module) {
  ParamGroup group;
  for (const Tensor& param : module.parameters())
    if (param.requires_grad()) group.params.push_back(param);
  return {group};
}

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
