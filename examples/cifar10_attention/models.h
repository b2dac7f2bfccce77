#pragma once
// The two CIFAR-10 networks: the design documents' small "seed" CNN, and our
// stronger CNN with channel and spatial attention.
#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "focus.h"
#include "nn/layers/attention_pooling.h"
#include "nn/layers/batch_norm2d.h"
#include "nn/layers/channel_attention.h"
#include "nn/layers/conv2d.h"
#include "nn/layers/linear.h"
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

/// Conv 3×3 → (max-pool 2) → BatchNorm → GELU → Conv 3×3 → BatchNorm → GELU: one stage of the
/// fast recipe's net. Pooling right after the first convolution makes the second run on a quarter
/// of the positions. Batch norm learns its shift only (its scale is fixed at 1), and each
/// convolution starts as an identity on its first `in` filters (dirac), so a fresh stage passes
/// its input through and the net trains from the first step.
class ConvGroup : public focus::nn::UnaryModule {
 public:
  ConvGroup(int64_t in, int64_t out, bool pool);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ConvGroup"; }

  bool pool;
  std::shared_ptr<focus::nn::Conv2d> conv1, conv2;
  std::shared_ptr<focus::nn::BatchNorm2d> norm1, norm2;
};

/// The widths of AttentionNet's three stages.
struct AttentionNetWidths {
  int64_t stage1 = 32, stage2 = 128, stage3 = 128;
  bool operator==(const AttentionNetWidths&) const = default;
};

/// "32,128,128": how the widths read on the command line (--widths) and in a checkpoint's metadata.
std::string widths_text(const AttentionNetWidths& widths);
/// The widths in `text` ("STAGE1,STAGE2,STAGE3", each 1 to 4096, nothing after), or nullopt; the
/// caller's error names the flag or the file.
std::optional<AttentionNetWidths> parse_widths(const std::string& text);

/// Our network, after the fast CIFAR-10 recipes (airbench; docs/cifar10-recipe.md):
///   whiten: Conv 2×2 (3 → 24), fixed to whiten the image's 2×2 patches, + GELU   [N, 24, 31, 31]
///   stage1: ConvGroup with pooling                                           [N, w1, 15, 15]
///   stage2: ConvGroup with pooling, then squeeze-and-excitation channel attention [N, w2, 7, 7]
///   stage3: ConvGroup without pooling, then channel attention                 [N, w3, 7, 7]
///   attention pooling: a softmax over the 49 positions weighs each position's features [N, w3]
///   classifier: Linear(w3 → 10, no bias), scaled by 3: attention pooling averages positions, so
///   its features vary little between images at the start and unscaled logits learn slowly
///   (airbench's max-pooled head uses 1/9; docs/cifar10-recipe.md has the measurement).
/// The attention map is the softmax over positions: where the network looks, summing to 1.
class AttentionNet : public Classifier {
 public:
  explicit AttentionNet(AttentionNetWidths widths = {});
  Tensor forward(const Tensor& images) override;
  /// [N, 7, 7]: the attention pooling's weights of the last forward (each map sums to 1).
  Tensor attention_map() const override;
  std::string type_name() const override { return "AttentionNet"; }

  /// Sets the whitening layer from a sample of normalised training images [N, 3, H, W]
  /// (nn::init::patch_whitening_); its weights are not trained.
  void whiten_from(const Tensor& images);

  static constexpr double kLogitScale = 3.0;
  AttentionNetWidths widths;
  std::shared_ptr<focus::nn::Conv2d> whiten;
  std::shared_ptr<ConvGroup> stage1, stage2, stage3;
  std::shared_ptr<focus::nn::ChannelAttention> channel2, channel3;
  std::shared_ptr<focus::nn::AttentionPooling> pool;
  std::shared_ptr<focus::nn::Linear> classifier;
};

/// The names make_model knows: "seed", "attention".
const std::vector<std::string>& model_names();
/// "seed" or "attention"; throws naming the valid choices otherwise.
std::shared_ptr<Classifier> make_model(const std::string& name);

}  // namespace cifar
