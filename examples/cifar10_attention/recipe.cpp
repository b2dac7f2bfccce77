#include "recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "nn/functional/loss.h"

namespace cifar {

using namespace focus;

namespace {
// With Nesterov momentum m a constant gradient moves the weights by (1 + 1/(1 − m)) steps' worth
// per step; dividing by it makes `lr_per_1024` the step size itself.
double momentum_gain(double momentum) { return 1 + 1 / (1 - momentum); }
}  // namespace

double Recipe::learning_rate() const {
  return lr_per_1024 * static_cast<double>(batch_size) / (1024 * momentum_gain(momentum));
}

// The decay per step is lr · wd = weight_decay_per_1024 · batch / (1024 · gain): for 1024 images,
// whatever the batch, the weights shrink by the same factor.
double Recipe::weight_decay() const { return weight_decay_per_1024 / lr_per_1024; }

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names{"default", "quick"};
  return names;
}

Recipe recipe_preset(const std::string& name) {
  Recipe recipe;
  recipe.preset = name;
  if (name == "default") {
    // The wider net for the epochs 40 minutes buy: more on a fast machine, fewer on a slow one (a
    // 45-minute budget gave it 13 epochs and 89.45 % on a 2-vCPU Zen 3, level with 20 epochs of
    // 32/128/128 there), and the run ends in time either way (docs/cifar10-recipe.md). 22 epochs
    // where no budget applies (a resume of a run that recorded none).
    recipe.widths = {32, 192, 192};
    recipe.epochs = 22;
    recipe.time_budget = 40;
  } else if (name == "quick") {
    recipe.widths = {32, 128, 128};
    recipe.epochs = 3;
  } else {
    throw std::invalid_argument(fmt::format("unknown preset {:?}: expected default or quick", name));
  }
  return recipe;
}

std::unique_ptr<optim::SGD> make_recipe_optimizer(AttentionNet& model, const Recipe& recipe, double lr) {
  const double rate = lr > 0 ? lr : recipe.learning_rate();
  optim::ParamGroup shifts, rest;
  shifts.lr = rate * recipe.bias_lr_scale;
  shifts.weight_decay = recipe.weight_decay() / recipe.bias_lr_scale;
  for (auto& [name, param] : model.named_parameters()) {
    if (!param.requires_grad()) continue;  // the whitening filters and the batch-norm scales stay fixed
    const bool batch_norm_shift = name.find(".norm") != std::string::npos && name.ends_with(".bias");
    (batch_norm_shift ? shifts : rest).params.push_back(param);
  }
  optim::SGDOptions options{rate, recipe.momentum, 0, recipe.weight_decay(), true};
  return std::make_unique<optim::SGD>(std::vector<optim::ParamGroup>{rest, shifts}, options);
}

std::unique_ptr<optim::PiecewiseLinearLR> make_recipe_schedule(optim::Optimizer& optimizer, const Recipe& recipe,
                                                              int64_t total_steps) {
  const int64_t peak = std::clamp<int64_t>(std::llround(recipe.warmup_fraction * static_cast<double>(total_steps)),
                                           1, std::max<int64_t>(1, total_steps - 1));
  return std::make_unique<optim::PiecewiseLinearLR>(
      optimizer, std::vector<std::pair<int64_t, double>>{
                     {0, recipe.start_factor}, {peak, 1.0}, {std::max(total_steps, peak + 1), recipe.end_factor}});
}

namespace {
// The index map of a one-pixel shift along a side of `size`, edges reflected: `by` = −1 reads
// [1, 0, 1, ..., size−2] (content moves right/down), +1 reads [1, 2, ..., size−1, size−2].
Tensor shift_index(int64_t size, int64_t by) {
  std::vector<int64_t> index(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) {
    int64_t j = i + by;
    if (j < 0) j = -j;
    if (j >= size) j = 2 * (size - 1) - j;
    index[i] = j;
  }
  return from_vector(index, {size});
}

Tensor mirror_index(int64_t size) {
  std::vector<int64_t> index(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) index[i] = size - 1 - i;
  return from_vector(index, {size});
}
}  // namespace

Tensor predict_logits(Classifier& model, const Tensor& images, bool test_time_augmentation) {
  if (!test_time_augmentation) return model(images);
  const Device device = images.device();
  const int64_t h = images.size(2), w = images.size(3);
  Tensor mirror = mirror_index(w).to(device);
  auto both = [&](const Tensor& x) { return (model(x) + model(index_select(x, 3, mirror))) * 0.5; };
  auto shifted = [&](int64_t rows_by, int64_t columns_by) {
    return index_select(index_select(images, 2, shift_index(h, rows_by).to(device)), 3, shift_index(w, columns_by).to(device));
  };
  // The four diagonal one-pixel shifts, each weighted like half the unshifted pair.
  Tensor diagonal = both(shifted(-1, -1)) + both(shifted(1, 1)) + both(shifted(-1, 1)) + both(shifted(1, -1));
  return both(images) * (1.0 / 3) + diagonal * (1.0 / 6);
}

namespace {
template <typename Run>
double median_seconds(int repeats, Run&& run) {
  run();  // warm-up: first-touch allocations, packed weights
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}
}  // namespace

double measure_step_seconds(const AttentionNetWidths& widths, int64_t batch, Device device) {
  Generator gen(1);
  AttentionNet net(widths);
  net.to(device);
  optim::SGD sgd(optim::groups_of(net), optim::SGDOptions{1e-3, 0.85, 0, 0, true});
  Tensor images = randn({batch, 3, 32, 32}, {}, &gen).to(device);
  Tensor labels = randint(0, 10, {batch}, kInt64, &gen).to(device);
  return median_seconds(3, [&] {
    sgd.zero_grad();
    Tensor loss = nn::functional::cross_entropy(net(images), labels);
    loss.backward();
    sgd.step();
    loss.item<double>();  // waits for a GPU
  });
}

double measure_eval_image_seconds(const AttentionNetWidths& widths, Device device) {
  Generator gen(2);
  AttentionNet net(widths);
  net.to(device);
  net.eval();
  NoGradGuard no_grad;
  Tensor images = randn({256, 3, 32, 32}, {}, &gen).to(device);
  return median_seconds(3, [&] { net(images).sum().item<double>(); }) / 256;
}

std::map<std::string, std::string> time_to_accuracy(const training::MetricsLog& log, const std::string& column,
                                                    const std::vector<double>& thresholds) {
  std::map<std::string, std::string> result;
  std::vector<double> accuracy = log.has_column(column) ? log.column(column) : std::vector<double>{};
  std::vector<double> seconds = log.has_column("seconds") ? log.column("seconds") : std::vector<double>{};
  for (double threshold : thresholds) {
    std::string key = fmt::format("minutes_to_{:.0f}", 100 * threshold), value = "not reached";
    double elapsed = 0;
    for (size_t e = 0; e < std::min(accuracy.size(), seconds.size()); ++e) {
      elapsed += seconds[e];
      if (accuracy[e] >= threshold) {
        value = fmt::format("{:.2f}", elapsed / 60);
        break;
      }
    }
    result[key] = value;
  }
  return result;
}

double estimated_epoch_seconds(double step_seconds, int64_t steps_per_epoch, double eval_image_seconds,
                               int64_t eval_images) {
  return step_seconds * static_cast<double>(steps_per_epoch) + eval_image_seconds * static_cast<double>(eval_images);
}

int epochs_for_budget(double minutes, double step_seconds, int64_t steps_per_epoch, double eval_image_seconds,
                      int64_t eval_images, bool test_time_augmentation, double fixed_seconds) {
  const double epoch_seconds = estimated_epoch_seconds(step_seconds, steps_per_epoch, eval_image_seconds, eval_images);
  // The final test (10 views with test-time augmentation) and the attention pictures' pass over it.
  const double final_seconds =
      eval_image_seconds * static_cast<double>(eval_images) * ((test_time_augmentation ? 10 : 1) + 1);
  const double left = minutes * 60 - fixed_seconds - final_seconds;
  return std::max(1, static_cast<int>(std::floor(left / epoch_seconds)));
}

}  // namespace cifar
