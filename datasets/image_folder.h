#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_decode.h"  // kMaxImagePixels
#include "datasets/image_example.h"
#include "tensor/tensor.h"

namespace focus::data {

/// The largest image file load_image and ImageFolder read, in bytes (256 MiB): the file is read
/// whole into memory before decoding.
inline constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

/// Reads a PNG, JPEG or BMP file (told by its first bytes, whatever its name) as
/// float32 [3, height, width] in [0, 1]: grey images are repeated over the
/// three channels, alpha is dropped, and the picture is resampled to the size
/// asked for (a size <= 0 keeps the file's own). Decoding is decode_image's
/// (datasets/image_decode.h). Throws "load_image: <path>: <what>" when the file
/// cannot be read or is over kMaxImageFileBytes, is another format, its header
/// gives no pixels or more than kMaxImagePixels, or its data is truncated or
/// corrupt (with the decoder's reason).
Tensor load_image(const std::filesystem::path& path, int64_t height, int64_t width);
/// Square version: `size`×`size`, e.g. load_image(path, 32) for a CIFAR model.
Tensor load_image(const std::filesystem::path& path, int64_t size);

/// A labelled image collection laid out one folder per class:
///
///     root/cat/001.png  root/cat/002.jpg  root/dog/a.bmp ...
///
/// Classes are the subfolder names in sorted order (class id = position);
/// within a class, files are sorted by name. Only .png, .jpg, .jpeg and .bmp
/// files are taken (any case). Every file's header is checked at construction
/// (format, size, colour space: "ImageFolder: <path>: <what>") so an unreadable
/// file is reported before training starts; pixels are decoded in `get`.
class ImageFolder : public Dataset<ImageExample> {
 public:
  /// Images are resized to image_size×image_size.
  ImageFolder(const std::filesystem::path& root, int64_t image_size);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  /// Image float32 [3, image_size, image_size] in [0, 1], and its class id.
  ImageExample get(int64_t index) const override;

  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::filesystem::path& path(int64_t index) const;
  int64_t label(int64_t index) const;

 private:
  struct File {
    std::filesystem::path path;
    int64_t label;
  };
  std::vector<File> files_;
  std::vector<std::string> class_names_;
  int64_t image_size_;
};

}  // namespace focus::data
