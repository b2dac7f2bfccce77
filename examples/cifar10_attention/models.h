#pragma once
// The two CIFAR-10 networks: the design documents' small "seed" CNN, and our
// stronger CNN with channel and spatial attention.
#include <memory>
#include <string>
#include <vector>

#include "focus.h"
#include "nn/layers/batch_norm2d.h"
#include "nn/layers/channel_attention.h"
#include "nn/layers/conv2d.h"
#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "nn/layers/spatial_attention.h"
#include "nn/sequential.h"

namespace cifar {

using focus::Tensor;

/// A CIFAR-10 classifier: images [N, 3, 32, 32] → logits [N, 10], plus where it looked.
class Classifier : public focus::nn::UnaryModule {
 public:
  /// For the last forward: a map [N, h, w] of where the network attended, higher = more.
  virtual Tensor attention_map() const = 0;
};

/// The seed network of the design documents: Conv(3→32, 3×3 same)+ReLU → MaxPool 2 →
/// Conv(32→64)+ReLU → MaxPool 2 → global average pool → sigmoid gate (features times
/// σ(features): the documents' "attention" activation) → Linear(64→128)+ReLU → Linear(128→10).
class SeedNet : public Classifier {
 public:
  SeedNet();
  Tensor forward(const Tensor& images) override;
  Tensor attention_map() const override;
  std::string type_name() const override { return "SeedNet"; }

  std::shared_ptr<focus::nn::Conv2d> conv1, conv2;
  std::shared_ptr<focus::nn::Linear> fc1, fc2;

 private:
  Tensor last_features_, last_gate_;  // [N, 64, 8, 8] and [N, 64], for the class-activation-style map
};

/// Our network: three stages of Conv-BN-ReLU pairs (32, 64, 128 channels), squeeze-and-
/// excitation channel attention after stages 2 and 3, CBAM spatial attention on the
/// final 8×8 map, global average pooling, dropout, Linear(128→10).
class AttentionNet : public Classifier {
 public:
  explicit AttentionNet(double dropout = 0.2);
  Tensor forward(const Tensor& images) override;
  Tensor attention_map() const override { return spatial->last_attention(); }
  std::string type_name() const override { return "AttentionNet"; }

  std::shared_ptr<focus::nn::Sequential> stage1, stage2, stage3;
  std::shared_ptr<focus::nn::ChannelAttention> channel2, channel3;
  std::shared_ptr<focus::nn::SpatialAttention> spatial;
  std::shared_ptr<focus::nn::Dropout> dropout;
  std::shared_ptr<focus::nn::Linear> classifier;
};

/// The names make_model knows: "seed", "attention".
const std::vector<std::string>& model_names();
/// "seed" or "attention"; throws naming the valid choices otherwise.
std::shared_ptr<Classifier> make_model(const std::string& name);

}  // namespace cifar
