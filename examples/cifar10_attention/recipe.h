#pragma once
// The training recipe of the attention model: how fast CIFAR-10 training is done (airbench,
// Page's ResNet-9 series; docs/cifar10-recipe.md says what each piece is worth), as presets.
//
//   whitened first layer, dirac-initialised convolutions, batch norm that learns only its shift
//   SGD with Nesterov momentum 0.85, batch-norm shifts at 64× the learning rate
//   a triangular learning rate: 0.2 → 1 over the first 23 % of the steps, then down to 0.07
//   label smoothing 0.2, random translations by up to 2 pixels and flips
//   Lookahead weight averaging every 5 steps
//   test-time augmentation: the mean of the logits of 10 views (flips × diagonal one-pixel shifts)
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "optim/training/metrics_log.h"

namespace cifar {

struct Recipe {
  std::string preset;
  AttentionNetWidths widths;
  int epochs = 0;  ///< when no time budget applies
  /// Minutes of wall time to fit the epochs to on this machine (epochs_for_budget), unless --epochs
  /// is given; 0: `epochs`, whatever the machine.
  double time_budget = 0;
  int64_t batch_size = 512;
  double label_smoothing = 0.2;
  // Nesterov SGD, in the "per 1024 examples" form that keeps the step size independent of the
  // batch size and momentum (airbench's decoupled parametrisation); learning_rate() turns them
  // into the rate and weight decay of optim::SGD on a mean loss.
  double momentum = 0.85;
  double lr_per_1024 = 11.5;
  double weight_decay_per_1024 = 0.0153;
  double bias_lr_scale = 64;  ///< batch-norm shifts learn this much faster, with the same decay per step
  double warmup_fraction = 0.23, start_factor = 0.2, end_factor = 0.07;
  int lookahead_every = 5;
  int64_t translate = 2;  ///< random shifts of up to this many pixels
  /// Mirror images by data::alternating_flip (each image both ways in any two consecutive epochs)
  /// rather than by a coin per image and epoch.
  bool alternating_flip = false;
  bool test_time_augmentation = true;

  /// optim::SGD's learning rate for a mean loss over `batch_size` images.
  double learning_rate() const;
  /// optim::SGD's (coupled) weight decay for the same.
  double weight_decay() const;
};

/// The names recipe_preset knows: "default" (stages 32/192/192, as many epochs as fit in 40 minutes
/// of this machine: 22 on a 2-vCPU AVX-512 Xeon, 90.5 %), "quick" (stages 32/128/128, 3 epochs: about
/// 82 % in 8 minutes).
const std::vector<std::string>& preset_names();
/// The preset's recipe; throws naming the valid choices for another name.
Recipe recipe_preset(const std::string& name);

/// SGD over the model's trainable parameters in two groups: batch-norm shifts (lr · bias_lr_scale,
/// the same decay per step), everything else. `lr` replaces the recipe's rate when > 0.
std::unique_ptr<focus::optim::SGD> make_recipe_optimizer(AttentionNet& model, const Recipe& recipe, double lr = -1);
/// The triangular schedule over `total_steps`, stepped once per batch.
std::unique_ptr<focus::optim::PiecewiseLinearLR> make_recipe_schedule(focus::optim::Optimizer& optimizer,
                                                                     const Recipe& recipe, int64_t total_steps);

/// Logits averaged over the test-time views of `images` [N, 3, H, W]: the image and its mirror,
/// each also shifted one pixel diagonally four ways (up-left, down-right, up-right, down-left;
/// edges reflected), ⅓ the unshifted pair and ⅙ each shifted pair. airbench uses the first two
/// shifts (½ and ¼ each); the other two added 0.15 points on two runs (docs/cifar10-recipe.md).
/// Without augmentation: model(images).
focus::Tensor predict_logits(Classifier& model, const focus::Tensor& images, bool test_time_augmentation);

/// Seconds of one training step (forward, backward, SGD) of a fresh AttentionNet of `widths` on
/// `batch` random images, the median of a few after a warm-up: the model being trained is untouched.
double measure_step_seconds(const AttentionNetWidths& widths, int64_t batch, focus::Device device);
/// Seconds per image of an evaluation forward of the same, batch 256.
double measure_eval_image_seconds(const AttentionNetWidths& widths, focus::Device device);

/// "minutes_to_80" → "3.4" (or "not reached") for each threshold: the wall time, from the epochs'
/// `seconds` in metrics.csv, at the end of the first epoch whose `column` reached the threshold.
std::map<std::string, std::string> time_to_accuracy(const focus::training::MetricsLog& log, const std::string& column,
                                                    const std::vector<double>& thresholds);

/// Seconds of one epoch from the measured step and evaluation times: `steps_per_epoch` steps plus
/// the per-epoch evaluation of `eval_images`.
double estimated_epoch_seconds(double step_seconds, int64_t steps_per_epoch, double eval_image_seconds,
                               int64_t eval_images);

/// The epochs that fit in `minutes` of wall time, given the measured seconds of one training step
/// and of one image's evaluation forward: each epoch is `steps_per_epoch` steps plus the per-epoch
/// evaluation of `eval_images`; the end adds the final test (6 forwards an image with test-time
/// augmentation), the attention pictures' pass over the test set, and `fixed_seconds` (loading,
/// whitening, writing). At least 1.
int epochs_for_budget(double minutes, double step_seconds, int64_t steps_per_epoch, double eval_image_seconds,
                      int64_t eval_images, bool test_time_augmentation, double fixed_seconds);

}  // namespace cifar
