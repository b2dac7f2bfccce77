#pragma once
// Training checkpoints: everything needed to continue a run exactly as if it had
// never stopped — model, optimizer moments and step counts, scheduler position,
// epoch, the random generator's state, the best metric, and free-form metadata
// (model config, vocabulary path). One safetensors file: model tensors under
// their plain names ("conv1.weight", so PyTorch users can load the weights),
// optimizer tensors under "optimizer.state.<i>.<name>", scalars in __metadata__.
#include <map>
#include <string>

#include "nn/serialize.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"

namespace focus::training {

struct TrainingState {
  int64_t epoch = 0;        ///< epochs completed
  int64_t global_step = 0;  ///< optimizer steps taken
  double best_metric = 0;
  std::map<std::string, std::string> metadata;  ///< free-form, saved as given
};

/// Saves a resumable checkpoint atomically. `scheduler` and `generator` may be null.
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                     const optim::LRScheduler* scheduler, const Generator* generator, const TrainingState& state);

/// Loads only the model's weights from a training checkpoint (or from a plain weights file written
/// by nn::save), strictly: every parameter and buffer of `model` must be there with its shape, and
/// nothing else but the optimizer's tensors, which are skipped. For evaluating and predicting: a
/// checkpoint of another model is an error naming what differs, never random weights.
void load_model_weights(const std::string& path, nn::Module& model);

/// Restores everything save_checkpoint() wrote into the given objects and returns
/// the training state. Validates the file fully before changing anything.
TrainingState load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& optimizer,
                              optim::LRScheduler* scheduler, Generator* generator);

}  // namespace focus::training
