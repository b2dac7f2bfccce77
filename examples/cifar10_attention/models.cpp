#include "models.h"

#include <fmt/format.h>

#include "nn/layers/activation.h"
#include "nn/layers/dropout.h"
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
// Conv 3×3 (no bias: batch norm follows) → BatchNorm → ReLU.
void add_conv_block(Sequential& seq, int64_t in, int64_t out) {
  seq.push_back(std::make_shared<Conv2d>(Conv2dOptions(in, out, 3).padding(1).bias(false)));
  seq.push_back(std::make_shared<BatchNorm2d>(out));
  seq.push_back(std::make_shared<ReLU>());
}
}  // namespace

AttentionNet::AttentionNet(double dropout_p) {
  stage1 = register_module("stage1", std::make_shared<Sequential>());
  add_conv_block(*stage1, 3, 32);
  add_conv_block(*stage1, 32, 32);
  stage2 = register_module("stage2", std::make_shared<Sequential>());
  add_conv_block(*stage2, 32, 64);
  add_conv_block(*stage2, 64, 64);
  channel2 = register_module("channel2", std::make_shared<ChannelAttention>(64, 8));
  stage3 = register_module("stage3", std::make_shared<Sequential>());
  add_conv_block(*stage3, 64, 128);
  add_conv_block(*stage3, 128, 128);
  channel3 = register_module("channel3", std::make_shared<ChannelAttention>(128, 8));
  spatial = register_module("spatial", std::make_shared<SpatialAttention>(7));
  dropout = register_module("dropout", std::make_shared<Dropout>(dropout_p));
  classifier = register_module("classifier", std::make_shared<Linear>(128, 10));
}

Tensor AttentionNet::forward(const Tensor& images) {
  Tensor x = functional::max_pool2d((*stage1)(images), 2);  // [N, 32, 16, 16]
  x = functional::max_pool2d((*channel2)((*stage2)(x)), 2);  // [N, 64, 8, 8]
  x = (*spatial)((*channel3)((*stage3)(x)));                  // [N, 128, 8, 8]
  return (*classifier)((*dropout)(mean(x, {2, 3})));
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
