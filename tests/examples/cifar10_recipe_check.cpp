// The CIFAR-10 recipe's pieces through cifar10_attention_lib: the net's shapes and attention, the
// whitening layer, the optimizer's groups and rates, the schedule, test-time augmentation, the time
// budget's arithmetic and the time to each accuracy. (The recipe learning on real data is
// cifar10_check's.)
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "../datasets/temp_directory.h"
#include "../support.h"
#include "focus.h"
#include "models.h"
#include "nn/functional/conv.h"
#include "optim/training/metrics_log.h"
#include "recipe.h"

using namespace focus;
using focus::testing::max_abs_diff;

TEST_CASE("AttentionNet: logits [N, 10] and 7x7 attention maps that are distributions", "[examples][cifar10]") {
  manual_seed(1);
  cifar::AttentionNet net({8, 16, 16});
  Tensor logits = net(randn({3, 3, 32, 32}));
  REQUIRE(logits.shape() == Shape{3, 10});
  Tensor maps = net.attention_map();
  REQUIRE(maps.shape() == Shape{3, 7, 7});
  CHECK(max_abs_diff(sum(maps, {1, 2}), ones({3})) < 1e-5);
  CHECK(amax(neg(maps)).item<double>() <= 0);  // no negative weight
  // Fixed: the whitening layer and batch norm's scales; everything else trains.
  CHECK_FALSE(net.whiten->weight.requires_grad());
  CHECK_FALSE(net.whiten->bias.requires_grad());
  CHECK_FALSE(net.stage2->norm1->weight.requires_grad());
  CHECK(net.stage2->norm1->bias.requires_grad());
  CHECK(cifar::AttentionNet().num_parameters() == 506713);  // the PyTorch twin's count (bench/torch/bench_cifar.py)
}

TEST_CASE("AttentionNet: a fresh stage passes its input through (dirac convolutions)", "[examples][cifar10]") {
  cifar::ConvGroup group(4, 6, false);
  // conv1's first 4 filters copy the 4 input channels; the other 2 keep their random start.
  Tensor x = randn({2, 4, 5, 5});
  Tensor y = (*group.conv1)(x);
  CHECK(max_abs_diff(y.narrow(1, 0, 4), x) == 0);
  Tensor z = (*group.conv2)(y);
  CHECK(max_abs_diff(z, y) == 0);  // conv2 is square: an identity
}

TEST_CASE("AttentionNet::whiten_from decorrelates the patches of its sample", "[examples][cifar10]") {
  manual_seed(2);
  cifar::AttentionNet net({8, 16, 16});
  Tensor base = randn({40, 1, 12, 12});
  Tensor images = cat({base, base * 0.8 + randn({40, 1, 12, 12}) * 0.3, randn({40, 1, 12, 12})}, 1);
  net.whiten_from(images);
  Tensor out = nn::functional::conv2d(images, net.whiten->weight.narrow(0, 0, 12));
  Tensor rows = out.permute({1, 0, 2, 3}).reshape({12, -1});
  Tensor covariance = matmul(rows, rows.transpose(0, 1)) / static_cast<double>(rows.size(1));
  // eps 5e-4 keeps the smallest directions a little below 1.
  CHECK(max_abs_diff(covariance, eye(12)) < 0.05);
}

TEST_CASE("Recipe: the per-1024 rates become SGD's, and the batch-norm shifts get their own group",
          "[examples][cifar10]") {
  cifar::Recipe recipe = cifar::recipe_preset("default");
  // lr = 11.5 · 512 / (1024 · (1 + 1/0.15)), weight decay = 0.0153 / 11.5.
  CHECK(recipe.learning_rate() == Approx(11.5 * 512 / (1024 * (1 + 1 / 0.15))));
  CHECK(recipe.weight_decay() == Approx(0.0153 / 11.5));
  recipe.batch_size = 1024;
  CHECK(recipe.learning_rate() == Approx(1.5));  // airbench's rate for a mean loss at batch 1024
  recipe.batch_size = 512;
  cifar::AttentionNet net({8, 16, 16});
  auto sgd = cifar::make_recipe_optimizer(net, recipe);
  const auto& groups = sgd->param_groups();
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].lr == Approx(recipe.learning_rate()));
  CHECK(groups[1].lr == Approx(64 * recipe.learning_rate()));
  CHECK(groups[1].weight_decay == Approx(recipe.weight_decay() / 64));  // the same decay per step
  size_t shifts = 0, trainable = 0;
  for (auto& [name, param] : net.named_parameters()) {
    if (!param.requires_grad()) continue;
    ++trainable;
    if (name.find(".norm") != std::string::npos) ++shifts;
  }
  CHECK(groups[1].params.size() == shifts);
  CHECK(shifts == 6);  // two batch norms in each of three stages
  CHECK(groups[0].params.size() + groups[1].params.size() == trainable);
  REQUIRE_THROWS_WITH(cifar::recipe_preset("slow"), Catch::Contains("expected default or quick"));
  // The default fits its epochs to 40 minutes of the machine it runs on; quick is a fixed 3 epochs.
  CHECK(recipe.time_budget == 40);
  CHECK(cifar::widths_text(recipe.widths) == "32,192,192");
  CHECK(cifar::recipe_preset("quick").time_budget == 0);
  CHECK(cifar::widths_text(cifar::recipe_preset("quick").widths) == "32,128,128");
}

TEST_CASE("Recipe: the schedule rises to the peak at 23 % of the steps and ends at 0.07", "[examples][cifar10]") {
  cifar::Recipe recipe = cifar::recipe_preset("quick");
  cifar::AttentionNet net({8, 16, 16});
  auto sgd = cifar::make_recipe_optimizer(net, recipe);
  auto schedule = cifar::make_recipe_schedule(*sgd, recipe, 100);
  CHECK(schedule->factor_at(0) == Approx(0.2));
  CHECK(schedule->factor_at(23) == Approx(1.0));
  CHECK(schedule->factor_at(100) == Approx(0.07));
  CHECK(sgd->param_groups()[0].lr == Approx(0.2 * recipe.learning_rate()));
}

namespace {
// A classifier whose logits are its input's pixels at fixed places, so each view is visible:
// logit j = images[:, 0, 3, j] + images[:, 1, j, 3] for j < 10, a piece of row 3 of one channel and
// of column 3 of another, so that shifting rows or columns either way reads other pixels.
struct PixelReader : cifar::Classifier {
  Tensor forward(const Tensor& images) override {
    Tensor row = images.select(1, 0).select(1, 3).narrow(1, 0, 10);
    Tensor column = images.select(1, 1).select(2, 3).narrow(1, 0, 10);
    return (row + column).contiguous();
  }
  Tensor attention_map() const override { return {}; }
};
}  // namespace

TEST_CASE("predict_logits averages the ten test-time views: the image, its diagonal shifts, and their mirrors",
          "[examples][cifar10]") {
  PixelReader reader;
  Tensor images = randn({2, 3, 32, 32}, kFloat64);
  Tensor plain = cifar::predict_logits(reader, images, false);
  CHECK(max_abs_diff(plain, reader(images)) == 0);
  // By hand: mirror reverses the columns; a shift of -1 reads rows (or columns) [1, 0, 1, 2, ...], +1 reads
  // [1, 2, ..., 31, 30].
  auto shift = [](int by) {
    std::vector<int64_t> index(32);
    for (int64_t i = 0; i < 32; ++i) {
      int64_t j = i + by;
      if (j < 0) j = -j;
      if (j > 31) j = 62 - j;
      index[i] = j;
    }
    return from_vector(index, {32});
  };
  auto view = [&](const Tensor& x, int rows_by, int columns_by, bool mirror) {
    Tensor shifted = index_select(index_select(x, 2, shift(rows_by)), 3, shift(columns_by));
    if (!mirror) return shifted;
    std::vector<int64_t> reversed(32);
    for (int64_t i = 0; i < 32; ++i) reversed[i] = 31 - i;
    return index_select(shifted, 3, from_vector(reversed, {32}));
  };
  // The unshifted pair weighs 1/3, each of the four diagonally shifted pairs 1/6 (1/2 per view of a pair).
  Tensor expected = (reader(view(images, 0, 0, false)) + reader(view(images, 0, 0, true))) * (1.0 / 6);
  for (int rows_by : {-1, 1})
    for (int columns_by : {-1, 1})
      expected = expected + (reader(view(images, rows_by, columns_by, false)) +
                             reader(view(images, rows_by, columns_by, true))) * (1.0 / 12);
  CHECK(max_abs_diff(cifar::predict_logits(reader, images, true), expected) < 1e-12);
}

TEST_CASE("epochs_for_budget: the epochs whose training and tests fit, at least one", "[examples][cifar10]") {
  // 100 steps of 1 s and 10,240 test images at 2⁻¹⁰ s (exact in binary): 110 s an epoch; the end takes (10 + 1) · 10 s
  // with test-time augmentation, (1 + 1) · 10 s without, and 20 s fixed. 30 minutes:
  // (1800 − 110 − 20) / 110 = 15.2 → 15, and (1800 − 20 − 20) / 110 = 16.
  CHECK(cifar::epochs_for_budget(30, 1.0, 100, 0.0009765625, 10240, true, 20) == 15);
  CHECK(cifar::epochs_for_budget(30, 1.0, 100, 0.0009765625, 10240, false, 20) == 16);
  CHECK(cifar::epochs_for_budget(0.5, 1.0, 100, 0.0009765625, 10240, true, 20) == 1);  // too short for one: still one
}

TEST_CASE("time_to_accuracy reads the first epoch at each threshold from metrics.csv", "[examples][cifar10]") {
  focus::testing::TempDirectory tmp("cifar10-recipe");
  training::MetricsLog log(tmp / "metrics.csv");
  log.append({{"epoch", 1}, {"test_acc", 0.70}, {"seconds", 60}});
  log.append({{"epoch", 2}, {"test_acc", 0.86}, {"seconds", 90}});
  log.append({{"epoch", 3}, {"test_acc", 0.84}, {"seconds", 90}});
  auto times = cifar::time_to_accuracy(log, "test_acc", {0.80, 0.85, 0.90});
  CHECK(times.at("minutes_to_80") == "2.50");  // (60 + 90) s at epoch 2
  CHECK(times.at("minutes_to_85") == "2.50");
  CHECK(times.at("minutes_to_90") == "not reached");
}
