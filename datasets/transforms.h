#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "datasets/sampler.h"
#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace focus::data {

/// An image transform: takes a [C, H, W] float image and the example's
/// generator, returns a new image (the input is never modified). Randomness
/// comes only from the generator, which the DataLoader derives from
/// (seed, epoch, index), so augmentations are reproducible.
using Transform = std::function<Tensor(const Tensor& image, Generator& gen)>;

/// (image[c] - mean[c]) / std[c] per channel. `mean` and `std` have one value
/// per channel, or one value for all channels.
class Normalize {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& image, Generator& gen) const;

 private:
  std::vector<double> mean_;
  std::vector<double> std_;
};

/// A random `size`×`size` window of the image after padding each side with
/// `padding` zeros (the usual CIFAR augmentation: RandomCrop(32, 4)).
class RandomCrop {
 public:
  explicit RandomCrop(int64_t size, int64_t padding = 0);
  Tensor operator()(const Tensor& image, Generator& gen) const;

 private:
  int64_t size_;
  int64_t padding_;
};

/// Mirrors the image left–right with probability p.
class RandomHorizontalFlip {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& image, Generator& gen) const;

 private:
  double p_;
};

/// The image mirrored left–right (a new tensor), [C, H, W].
Tensor horizontal_flip(const Tensor& image);

/// Alternating flips (Jordan, "94% on CIFAR-10 in 3.29 seconds", 2024, §3.6): whether the example at
/// `at` is mirrored. A random half of the examples, chosen from the seed and the index alone, is
/// mirrored in even epochs and the other half in odd ones, so any two consecutive epochs show each
/// image both ways; a fresh coin per epoch shows a quarter of them the same way twice. Use it in a
/// position-aware transform: `if (alternating_flip(at)) image = horizontal_flip(image);`.
bool alternating_flip(const ExamplePosition& at);

/// Applies transforms in order, all drawing from the same generator.
class Compose {
 public:
  explicit Compose(std::vector<Transform> transforms);
  Tensor operator()(const Tensor& image, Generator& gen) const;

 private:
  std::vector<Transform> transforms_;
};

}  // namespace focus::data
