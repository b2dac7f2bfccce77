#pragma once
// Lookahead weight averaging, in the form the fast CIFAR-10 recipes use (Zhang et al. 2019,
// "Lookahead Optimizer: k steps forward, 1 step back"; Jordan 2024, airbench): a slow copy of the
// model's weights trails the fast ones the optimizer moves. Every few steps the slow copy takes a
// step toward the fast weights and the fast weights restart from it:
//
//     slow ← slow + (1 − decay)·(fast − slow);   fast ← slow
//
// decay 0 is plain training, decay 1 throws the fast progress away. Early in a run (decay near 0)
// it changes nothing; late, with the learning rate falling, it averages out the last steps' noise,
// which is what a few-epoch run needs most.
//
//   optim::Lookahead lookahead(model);
//   ... after optimizer.step(), every 5 steps: lookahead.update(lookahead.scheduled_decay(step, total));
//   ... at the end: lookahead.update(1.0);  // the model holds the slow weights
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace focus::optim {

class Lookahead {
 public:
  /// Keeps a slow copy of every parameter and every floating-point buffer (batch norm's running
  /// statistics average too; integer counters do not).
  explicit Lookahead(const nn::Module& module);

  /// slow ← slow + (1 − decay)·(fast − slow), then fast ← slow. decay in [0, 1].
  void update(double decay);
  /// slow ← fast: after the model's weights were replaced (a checkpoint loaded, say).
  void reset();

  /// The recipe's schedule: base^every · (step / total)³, which stays near 0 for most of the run
  /// and rises to base^every at its end (airbench: base 0.95, every 5).
  static double scheduled_decay(int64_t step, int64_t total, double base = 0.95, int every = 5);

 private:
  std::vector<std::pair<std::string, Tensor>> fast_;  // the module's own tensors (handles)
  std::vector<Tensor> slow_;
};

}  // namespace focus::optim
