#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "datasets/transforms.h"
#include "tensor/tensor.h"

namespace focus::data {

/// One labelled image: `image` is float32 [C, H, W] (values in [0, 1] before
/// normalisation), `label` the class index.
struct ImageExample {
  Tensor image;
  int64_t label = 0;
};

/// A batch of images: `images` float32 [B, C, H, W], `labels` int64 [B].
struct ImageBatch {
  Tensor images;
  Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// Stacks examples into one batch with a single allocation and one memcpy per
/// image. Every image must have the same shape and be float32; throws naming
/// the first image that differs.
ImageBatch collate_images(std::vector<ImageExample>&& examples);
/// The batch on `device`: through pinned memory, with the copies queued asynchronously
/// when device is a GPU (what DataLoaderOptions::device does on the loader's worker).
ImageBatch to_device(ImageBatch&& batch, Device device);

/// Lifts an image transform to examples, for DataLoader::set_transform:
/// `loader.set_transform(transform_images(Compose({RandomCrop(32, 4), RandomHorizontalFlip()})));`
std::function<ImageExample(ImageExample&&, Generator&)> transform_images(Transform transform);

}  // namespace focus::data
