#include "models.h"

#include <fmt/format.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "nn/init.h"
#include "nn/layers/max_pool2d.h"
#include "nn/functional/pooling.h"
#include "nn/sequential.h"

namespace cifar {

using namespace focus;
using namespace focus::nn;

SeedNet::SeedNet() {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(Conv2dOptions(3, 32, 3).padding(Padding::Same)));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(Conv2dOptions(32, 64, 3).padding(Padding::Same)));
  fc1 = register_module("fc1", std::make_shared<Linear>(64, 128));
  fc2 = register_module("fc2", std::make_shared<Linear>(128, 10));
}

Tensor SeedNet::forward(const Tensor& images) {
  Tensor x = functional::max_pool2d(relu((*conv1)(images)), 2);
  x = functional::max_pool2d(relu((*conv2)(x)), 2);  // [N, 64, 8, 8]
  Tensor pooled = mean(x, {2, 3});                   // [N, 64]
  Tensor gate = sigmoid(pooled);
  last_features_ = x.detach();
  last_gate_ = gate.detach();
  return (*fc2)(relu((*fc1)(pooled * gate)));
}

Tensor SeedNet::attention_map() const {
  // Each channel's response weighted by its gate: where the gated features fire.
  Tensor weighted = last_features_ * last_gate_.unsqueeze(2).unsqueeze(3);
  return relu(sum(weighted, {1}));
}

namespace {
Conv2dOptions conv3x3(int64_t in, int64_t out) { return Conv2dOptions(in, out, 3).padding(1).bias(false); }
// Batch norm as the fast recipes set it: eps 1e-12, momentum 0.4 (running statistics follow the
// last few batches, which matters in a run of a few hundred steps), and a fixed scale of 1.
std::shared_ptr<BatchNorm2d> recipe_batch_norm(int64_t channels) {
  auto norm = std::make_shared<BatchNorm2d>(BatchNorm2dOptions(channels).eps(1e-12).momentum(0.4));
  norm->weight.requires_grad_(false);
  return norm;
}
}  // namespace

ConvGroup::ConvGroup(int64_t in, int64_t out, bool pool_) : pool(pool_) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(conv3x3(in, out)));
  norm1 = register_module("norm1", recipe_batch_norm(out));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(conv3x3(out, out)));
  norm2 = register_module("norm2", recipe_batch_norm(out));
  init::dirac_(conv1->weight.narrow(0, 0, std::min(in, out)));
  init::dirac_(conv2->weight);
}

Tensor ConvGroup::forward(const Tensor& x) {
  Tensor y = (*conv1)(x);
  if (pool) y = functional::max_pool2d(y, 2);
  y = gelu((*norm1)(y));
  return gelu((*norm2)((*conv2)(y)));
}

AttentionNet::AttentionNet(AttentionNetWidths widths_) : widths(widths_) {
  whiten = register_module("whiten", std::make_shared<Conv2d>(Conv2dOptions(3, 24, 2)));
  // Fixed: its filters come from the data (whiten_from) and its bias stays 0. Training the bias
  // (airbench does, for the first epochs) measured no better here and costs the first stage's
  // input gradient (docs/cifar10-recipe.md).
  whiten->weight.requires_grad_(false);
  whiten->bias.requires_grad_(false);
  {
    NoGradGuard no_grad;
    whiten->bias.zero_();
  }
  stage1 = register_module("stage1", std::make_shared<ConvGroup>(24, widths.stage1, true));
  stage2 = register_module("stage2", std::make_shared<ConvGroup>(widths.stage1, widths.stage2, true));
  channel2 = register_module("channel2", std::make_shared<ChannelAttention>(widths.stage2, 8));
  stage3 = register_module("stage3", std::make_shared<ConvGroup>(widths.stage2, widths.stage3, false));
  channel3 = register_module("channel3", std::make_shared<ChannelAttention>(widths.stage3, 8));
  pool = register_module("pool", std::make_shared<AttentionPooling>(widths.stage3));
  classifier = register_module("classifier", std::make_shared<Linear>(LinearOptions(widths.stage3, 10).bias(false)));
}

void AttentionNet::whiten_from(const Tensor& images) { init::patch_whitening_(whiten->weight, images); }

Tensor AttentionNet::forward(const Tensor& images) {
  Tensor x = gelu((*whiten)(images));                 // [N, 24, 31, 31]
  x = (*channel2)((*stage2)((*stage1)(x)));            // [N, w2, 7, 7]
  x = (*channel3)((*stage3)(x));                       // [N, w3, 7, 7]
  Tensor positions = x.flatten(2).transpose(1, 2);     // [N, 49, w3]: one row of features per position
  return (*classifier)((*pool)(positions).pooled) * kLogitScale;
}

Tensor AttentionNet::attention_map() const {
  const Tensor& weights = pool->last_attention();  // [N, 49]
  const int64_t side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(weights.size(1)))));
  return weights.reshape({weights.size(0), side, side});
}

std::string widths_text(const AttentionNetWidths& widths) {
  return fmt::format("{},{},{}", widths.stage1, widths.stage2, widths.stage3);
}

std::optional<AttentionNetWidths> parse_widths(const std::string& text) {
  int64_t w[3];
  char end = 0;
  if (std::sscanf(text.c_str(), "%" SCNd64 ",%" SCNd64 ",%" SCNd64 "%c", &w[0], &w[1], &w[2], &end) != 3 ||
      std::any_of(w, w + 3, [](int64_t v) { return v < 1 || v > 4096; }))
    return std::nullopt;
  return AttentionNetWidths{w[0], w[1], w[2]};
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"seed", "attention"};
  return names;
}

std::shared_ptr<Classifier> make_model(const std::string& name) {
  if (name == "seed") return std::make_shared<SeedNet>();
  if (name == "attention") return std::make_shared<AttentionNet>();
  throw std::invalid_argument(fmt::format("unknown model {:?}: expected seed or attention", name));
}

}  // namespace cifar
