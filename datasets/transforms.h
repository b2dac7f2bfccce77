#pragma once
#include <cstdint>
#include <functional>
#include <vector>

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

/// Applies transforms in order, all drawing from the same generator.
class Compose {
 public:
  explicit Compose(std::vector<Transform> transforms);
  Tensor operator()(const Tensor& image, Generator& gen) const;

 private:
  std::vector<Transform> transforms_;
};

}  // namespace focus::data
