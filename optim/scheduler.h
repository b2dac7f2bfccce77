#pragma once
// Learning-rate schedules. Call step() once per epoch (or per batch for OneCycleLR
// and warm-up), after optimizer.step(), as in PyTorch. Closed-form schedules
// compute lr(epoch) from the base learning rates, so they resume exactly from
// `last_epoch` alone.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "optim/optimizer.h"

namespace focus::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;

  /// Advances one epoch and sets every group's learning rate.
  virtual void step();
  int64_t last_epoch() const { return last_epoch_; }
  /// The learning rates the schedule gives at `epoch`, one per group.
  std::vector<double> lrs_at(int64_t epoch) const;
  std::vector<double> last_lr() const;

  virtual std::map<std::string, std::string> state_dict() const;
  virtual void load_state_dict(const std::map<std::string, std::string>& state);

  /// lr at `epoch` for a group whose base learning rate is `base_lr`.
  virtual double lr_at(int64_t epoch, double base_lr) const = 0;

 protected:
  void apply(int64_t epoch);
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = 0;
};

/// lr = base · γ^⌊epoch / step_size⌋
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr = η_min + (base − η_min)·(1 + cos(π·epoch/T_max))/2 (the closed form of torch's CosineAnnealingLR)
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

/// Linear warm-up (torch's LinearLR): the factor goes from start_factor to
/// end_factor over total_iters steps, then stays.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

/// Warm-up for `warmup` steps (linear from start_factor), then cosine annealing to
/// eta_min by `total` steps: the usual schedule for training from scratch.
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup, int64_t total, double start_factor = 0.1,
                 double eta_min = 0.0);
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  int64_t warmup_, total_;
  double start_factor_, eta_min_;
};

/// The 1cycle policy (torch's OneCycleLR with anneal_strategy "cos", three_phase
/// false): from max_lr/div_factor up to max_lr over pct_start of total_steps, then
/// down to max_lr/(div_factor·final_div_factor). Step once per batch. Sets the
/// groups' base rates to max_lr.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, double pct_start = 0.3,
             double div_factor = 25.0, double final_div_factor = 1e4);
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  int64_t total_steps_;
  double pct_start_, div_factor_, final_div_factor_;
};

/// A factor of the base rate that runs straight between given points: `points` are (step,
/// factor) pairs with increasing steps; before the first point the factor is the first one's,
/// after the last the last one's, and in between it is interpolated linearly. The triangular
/// schedules of the fast CIFAR-10 recipes are three points: {{0, 0.2}, {0.23·T, 1}, {T, 0.07}}.
/// Step once per batch.
class PiecewiseLinearLR : public LRScheduler {
 public:
  PiecewiseLinearLR(Optimizer& optimizer, std::vector<std::pair<int64_t, double>> points);
  double lr_at(int64_t step, double base_lr) const override;
  /// The factor of the base rate at `step`.
  double factor_at(int64_t step) const;

 private:
  std::vector<std::pair<int64_t, double>> points_;
};

/// Divides the learning rate by 1/factor when a metric stops improving for
/// `patience` epochs (torch's ReduceLROnPlateau, threshold mode "rel").
class ReduceLROnPlateau {
 public:
  enum class Mode { Min, Max };
  ReduceLROnPlateau(Optimizer& optimizer, Mode mode = Mode::Min, double factor = 0.1, int64_t patience = 10,
                    double threshold = 1e-4, int64_t cooldown = 0, double min_lr = 0.0);
  /// Reports this epoch's metric; may lower the learning rates.
  void step(double metric);
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::map<std::string, std::string> state_dict() const;
  void load_state_dict(const std::map<std::string, std::string>& state);

 private:
  bool improved(double metric) const;
  Optimizer& optimizer_;
  Mode mode_;
  double factor_, threshold_, min_lr_;
  int64_t patience_, cooldown_;
  double best_;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0, last_epoch_ = 0;
};

}  // namespace focus::optim
