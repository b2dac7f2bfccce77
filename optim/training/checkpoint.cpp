#include "optim/training/checkpoint.h"

#include <fmt/format.h>

#include <stdexcept>

#include "datasets/printable_text.h"

namespace focus::training {

namespace {
const std::string kOptimizerPrefix = "optimizer.";
const std::string kOptimizerValue = "optimizer/";
const std::string kSchedulerValue = "scheduler/";
const std::string kUserValue = "user/";
}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                     const optim::LRScheduler* scheduler, const Generator* generator, const TrainingState& state) {
  nn::StateDict tensors = model.state_dict();
  optim::OptimizerState optimizer_state = optimizer.state_dict();
  for (const auto& [name, t] : optimizer_state.tensors) tensors.emplace_back(kOptimizerPrefix + name, t);

  nn::Metadata metadata;
  metadata["format"] = "focus-training-checkpoint-1";
  metadata["epoch"] = std::to_string(state.epoch);
  metadata["global_step"] = std::to_string(state.global_step);
  metadata["best_metric"] = fmt::format("{:.17g}", state.best_metric);
  for (const auto& [k, v] : optimizer_state.values) metadata[kOptimizerValue + k] = v;
  if (scheduler)
    for (const auto& [k, v] : scheduler->state_dict()) metadata[kSchedulerValue + k] = v;
  if (generator) metadata["rng_state"] = generator->state();
  for (const auto& [k, v] : state.metadata) metadata[kUserValue + k] = v;
  nn::save_safetensors(path, tensors, metadata);
}

void load_model_weights(const std::string& path, nn::Module& model) {
  nn::SafetensorsContent content = nn::load_safetensors(path);
  nn::StateDict weights;
  for (auto& [name, t] : content.tensors)
    if (name.rfind(kOptimizerPrefix, 0) != 0) weights.emplace_back(name, t);
  try {
    model.load_state_dict(weights, /*strict=*/true);
  } catch (const std::exception& e) {
    throw std::invalid_argument(fmt::format("{}: {}", path, e.what()));
  }
}

TrainingState load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& optimizer,
                              optim::LRScheduler* scheduler, Generator* generator) {
  nn::SafetensorsContent content = nn::load_safetensors(path);
  const nn::Metadata& meta = content.metadata;
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    if (it == meta.end()) throw std::invalid_argument(fmt::format("{}: not a training checkpoint (no '{}')", path, key));
    return it->second;
  };
  if (get("format") != "focus-training-checkpoint-1")
    throw std::invalid_argument(fmt::format("{}: unknown checkpoint format {}", path, data::quoted(get("format"))));

  nn::StateDict model_tensors;
  optim::OptimizerState optimizer_state;
  for (auto& [name, t] : content.tensors) {
    if (name.rfind(kOptimizerPrefix, 0) == 0)
      optimizer_state.tensors.emplace_back(name.substr(kOptimizerPrefix.size()), t);
    else
      model_tensors.emplace_back(name, t);
  }
  TrainingState state;
  std::map<std::string, std::string> scheduler_state;
  for (const auto& [k, v] : meta) {
    if (k.rfind(kOptimizerValue, 0) == 0) optimizer_state.values[k.substr(kOptimizerValue.size())] = v;
    if (k.rfind(kSchedulerValue, 0) == 0) scheduler_state[k.substr(kSchedulerValue.size())] = v;
    if (k.rfind(kUserValue, 0) == 0) state.metadata[k.substr(kUserValue.size())] = v;
  }
  try {
    state.epoch = std::stoll(get("epoch"));
    state.global_step = std::stoll(get("global_step"));
    state.best_metric = std::stod(get("best_metric"));
  } catch (const std::logic_error& e) {
    if (dynamic_cast<const std::invalid_argument*>(&e) && std::string(e.what()).find(path) == 0) throw;
    throw std::invalid_argument(fmt::format("{}: malformed epoch/step/metric values", path));
  }
  if (state.epoch < 0 || state.global_step < 0)
    throw std::invalid_argument(fmt::format("{}: malformed epoch/step/metric values (epoch {}, global_step {})", path,
                                            state.epoch, state.global_step));
  if (scheduler && scheduler_state.empty())
    throw std::invalid_argument(fmt::format("{}: the checkpoint has no scheduler state", path));

  // Everything parsed; now apply, as one transaction: what each part had is kept, and when any part
  // refuses its state (a shape, an optimizer type, a random state) all of them get theirs back, so
  // a damaged checkpoint changes nothing.
  nn::StateDict model_before;
  for (const auto& [name, t] : model.state_dict()) model_before.emplace_back(name, t.clone());
  optim::OptimizerState optimizer_before = optimizer.state_dict();
  for (auto& [name, t] : optimizer_before.tensors) t = t.clone();
  const std::map<std::string, std::string> scheduler_before = scheduler ? scheduler->state_dict() : decltype(scheduler_before){};
  const std::string generator_before = generator ? generator->state() : std::string();
  try {
    model.load_state_dict(model_tensors, true);  // model first: its errors are the most common
    optimizer.load_state_dict(optimizer_state);
    if (scheduler) scheduler->load_state_dict(scheduler_state);
    if (generator) generator->set_state(get("rng_state"));
  } catch (const std::exception& e) {
    model.load_state_dict(model_before, true);
    optimizer.load_state_dict(optimizer_before);
    if (scheduler) scheduler->load_state_dict(scheduler_before);
    if (generator) generator->set_state(generator_before);
    const std::string message = e.what();
    // One prefix per message: errors that already name the file keep their own.
    // printable_lines: the parts quote what they took from the file escaped; this is the last defence.
    throw std::invalid_argument(
        data::printable_lines(message.rfind(path, 0) == 0 ? message : fmt::format("{}: {}", path, message)));
  }
  return state;
}

}  // namespace focus::training
