#include "datasets/image_example.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "datasets/transfer.h"
#include "tensor/kernels.h"

namespace focus::data {

ImageBatch collate_images(std::vector<ImageExample>&& examples) {
  if (examples.empty()) throw std::invalid_argument("collate_images: no examples to collate");
  const Shape& first = examples[0].image.shape();
  for (size_t i = 0; i < examples.size(); ++i) {
    const Tensor& image = examples[i].image;
    if (!image.defined()) throw std::invalid_argument(fmt::format("collate_images: image {} is undefined", i));
    if (!image.device().is_cpu())
      throw std::invalid_argument(fmt::format("collate_images: image {} is not on the CPU", i));
    if (image.dtype() != kFloat32)
      throw std::invalid_argument(fmt::format("collate_images: image {} is {}, expected float32", i,
                                              dtype_name(image.dtype())));
    if (image.shape() != first)
      throw std::invalid_argument(fmt::format("collate_images: image {} has shape {}, expected {} like image 0", i,
                                              shape_str(image.shape()), shape_str(first)));
  }
  const int64_t count = static_cast<int64_t>(examples.size());
  const int64_t per_image = shape_numel(first);
  Shape shape{count};
  shape.insert(shape.end(), first.begin(), first.end());
  ImageBatch batch{empty(shape), empty({count}, kInt64)};
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const Tensor& source = examples[i].image;
    Tensor image = source.is_contiguous() ? source : kernels::contiguous_copy(source);
    std::memcpy(images + i * per_image, image.data<float>(), sizeof(float) * per_image);
    labels[i] = examples[i].label;
    examples[i].image = Tensor();  // release as we go: peak memory stays near one batch
  }
  return batch;
}

std::function<ImageExample(ImageExample&&, Generator&)> transform_images(Transform transform) {
  if (!transform) throw std::invalid_argument("transform_images: the transform is empty");
  return [transform = std::move(transform)](ImageExample&& example, Generator& gen) {
    example.image = transform(example.image, gen);
    return std::move(example);
  };
}

ImageBatch to_device(ImageBatch&& batch, Device device) {
  batch.images = transfer(batch.images, device);
  batch.labels = transfer(batch.labels, device);
  return std::move(batch);
}

}  // namespace focus::data
