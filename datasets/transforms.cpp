#include "datasets/transforms.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "tensor/kernels.h"

namespace focus::data {

namespace {
// Transforms accept any float image; they work on a contiguous copy/view.
Tensor checked_image(const Tensor& image, const char* op) {
  if (!image.defined()) throw std::invalid_argument(fmt::format("{}: the image is undefined", op));
  if (image.dim() != 3)
    throw std::invalid_argument(fmt::format("{}: expected an image of shape [C, H, W], got {}", op,
                                            shape_str(image.shape())));
  if (!is_floating(image.dtype()))
    throw std::invalid_argument(fmt::format("{}: expected a float32 or float64 image, got {}", op,
                                            dtype_name(image.dtype())));
  if (!image.device().is_cpu()) throw std::invalid_argument(fmt::format("{}: expected a CPU image", op));
  // Raw copy, not the autograd op: augmentation is data preparation, never differentiated.
  return image.is_contiguous() ? image : kernels::contiguous_copy(image);
}

template <typename F>
void for_float_type(DType dtype, F&& f) {
  if (dtype == kFloat32)
    f.template operator()<float>();
  else
    f.template operator()<double>();
}
}  // namespace

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  if (mean_.empty() || mean_.size() != std_.size())
    throw std::invalid_argument(fmt::format("Normalize: mean has {} values and std has {}; expected the same "
                                            "non-zero count (one per channel)",
                                            mean_.size(), std_.size()));
  for (size_t c = 0; c < std_.size(); ++c)
    if (!(std_[c] > 0)) throw std::invalid_argument(fmt::format("Normalize: std[{}] = {} must be positive", c, std_[c]));
}

Tensor Normalize::operator()(const Tensor& image, Generator&) const {
  Tensor in = checked_image(image, "Normalize");
  const int64_t channels = in.size(0);
  const int64_t plane = in.size(1) * in.size(2);
  if (mean_.size() != 1 && static_cast<int64_t>(mean_.size()) != channels)
    throw std::invalid_argument(fmt::format("Normalize: {} means for an image of shape {} ({} channels)",
                                            mean_.size(), shape_str(in.shape()), channels));
  Tensor out = empty(in.shape(), in.dtype());
  for_float_type(in.dtype(), [&]<typename T>() {
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    for (int64_t c = 0; c < channels; ++c) {
      const size_t k = mean_.size() == 1 ? 0 : static_cast<size_t>(c);
      // Multiplying by 1/std keeps the inner loop a fused multiply-add.
      const T scale = static_cast<T>(1.0 / std_[k]);
      const T shift = static_cast<T>(-mean_[k] / std_[k]);
      for (int64_t i = c * plane; i < (c + 1) * plane; ++i) dst[i] = src[i] * scale + shift;
    }
  });
  return out;
}

RandomCrop::RandomCrop(int64_t size, int64_t padding) : size_(size), padding_(padding) {
  if (size < 1) throw std::invalid_argument(fmt::format("RandomCrop: size must be >= 1, got {}", size));
  if (padding < 0) throw std::invalid_argument(fmt::format("RandomCrop: padding must be >= 0, got {}", padding));
}

Tensor RandomCrop::operator()(const Tensor& image, Generator& gen) const {
  Tensor in = checked_image(image, "RandomCrop");
  const int64_t channels = in.size(0), height = in.size(1), width = in.size(2);
  const int64_t padded_height = height + 2 * padding_, padded_width = width + 2 * padding_;
  if (size_ > padded_height || size_ > padded_width)
    throw std::invalid_argument(fmt::format("RandomCrop: a {}x{} crop does not fit an image of shape {} padded by {}",
                                            size_, size_, shape_str(in.shape()), padding_));
  // Window origin in padded coordinates, then shifted into the image's own.
  const int64_t top = gen.integer(0, padded_height - size_ + 1) - padding_;
  const int64_t left = gen.integer(0, padded_width - size_ + 1) - padding_;
  Tensor out = zeros({channels, size_, size_}, in.dtype());
  // Only the window's overlap with the image is copied; the rest stays zero (the padding).
  const int64_t x0 = std::max<int64_t>(0, -left), x1 = std::min<int64_t>(size_, width - left);
  if (x1 <= x0) return out;
  for_float_type(in.dtype(), [&]<typename T>() {
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < size_; ++y) {
        const int64_t source_y = top + y;
        if (source_y < 0 || source_y >= height) continue;
        std::memcpy(dst + (c * size_ + y) * size_ + x0, src + (c * height + source_y) * width + left + x0,
                    sizeof(T) * (x1 - x0));
      }
  });
  return out;
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument(fmt::format("RandomHorizontalFlip: p must be in [0, 1], got {}", p));
}

Tensor RandomHorizontalFlip::operator()(const Tensor& image, Generator& gen) const {
  Tensor in = checked_image(image, "RandomHorizontalFlip");
  // Always draw, so the generator advances the same way whether or not we flip.
  if (gen.uniform() >= p_) return in;
  return horizontal_flip(in);
}

Tensor horizontal_flip(const Tensor& image) {
  Tensor in = checked_image(image, "horizontal_flip");
  const int64_t rows = in.size(0) * in.size(1), width = in.size(2);
  Tensor out = empty(in.shape(), in.dtype());
  for_float_type(in.dtype(), [&]<typename T>() {
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      std::reverse_copy(src + r * width, src + (r + 1) * width, dst + r * width);
  });
  return out;
}

bool alternating_flip(const ExamplePosition& at) {
  // The example's own coin, the same in every epoch (the epoch slot is 0); its top bit is fair.
  const bool first_epoch_flip = derive_seed(at.seed, SeedStream::Flip, 0, static_cast<uint64_t>(at.index)) >> 63;
  return first_epoch_flip != (at.epoch % 2 != 0);
}

Compose::Compose(std::vector<Transform> transforms) : transforms_(std::move(transforms)) {
  for (size_t i = 0; i < transforms_.size(); ++i)
    if (!transforms_[i]) throw std::invalid_argument(fmt::format("Compose: transform {} is empty", i));
}

Tensor Compose::operator()(const Tensor& image, Generator& gen) const {
  Tensor out = image;
  for (const Transform& transform : transforms_) out = transform(out, gen);
  return out;
}

}  // namespace focus::data
