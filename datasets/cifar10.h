#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_example.h"

namespace focus::data {

/// Which half of a data set with a fixed train/test split.
enum class Split { Train, Test };

/// CIFAR-10 from its binary version (https://www.cs.toronto.edu/~kriz/cifar.html):
/// data_batch_1..5.bin (train, 50,000 images) or test_batch.bin (10,000), each
/// record 1 label byte + 3,072 pixel bytes (red, green, blue planes of 32×32,
/// row-major), and batches.meta.txt with the ten class names.
///
/// The constructor maps each file into memory read-only (falling back to one
/// fread per file where mapping is impossible) and keeps the raw bytes, about
/// 150 MB for the training set, shared with the OS file cache; `get` converts
/// one image to float32 [3, 32, 32] in [0, 1]. Every label is checked at load
/// time, so a corrupt file fails early with its name and the byte offset of
/// the bad record. Copies of a CIFAR10 share the bytes.
class CIFAR10 : public Dataset<ImageExample> {
 public:
  static constexpr int64_t kChannels = 3;
  static constexpr int64_t kHeight = 32;
  static constexpr int64_t kWidth = 32;
  static constexpr int64_t kImageBytes = kChannels * kHeight * kWidth;  // 3072
  static constexpr int64_t kRecordBytes = 1 + kImageBytes;               // 3073
  static constexpr int64_t kNumClasses = 10;

  /// `root` is the cifar-10-batches-bin folder or a folder that contains it
  /// (such as $FOCUS_DATA). Throws naming the file on a missing, truncated or
  /// corrupt batch.
  CIFAR10(const std::filesystem::path& root, Split split);

  int64_t size() const override { return size_; }
  /// Image float32 [3, 32, 32] in [0, 1], and its label 0..9.
  ImageExample get(int64_t index) const override;

  /// The label of example `index` without converting the image.
  int64_t label(int64_t index) const;
  /// The 3,072 raw pixel bytes of example `index` (R, G, B planes).
  const uint8_t* pixels(int64_t index) const;
  /// Builds a batch straight from the raw bytes, skipping per-example tensors:
  /// images float32 [B, 3, 32, 32] in [0, 1], labels int64 [B]. Equal to
  /// collate_images of the same gets; use it when no per-example transform runs.
  ImageBatch get_batch(const std::vector<int64_t>& indices) const;

  /// The ten class names (from batches.meta.txt; the standard names when the file is absent).
  const std::vector<std::string>& class_names() const { return class_names_; }
  /// How many examples each class has.
  std::vector<int64_t> class_counts() const;
  /// The folder the batches were read from.
  const std::filesystem::path& directory() const { return directory_; }

  /// The batch files of a split, in record order.
  static std::vector<std::string> file_names(Split split);

 private:
  struct BatchFile;  // one mapped (or read) batch file, cifar10.cpp
  void check_index(int64_t index) const;

  std::filesystem::path directory_;
  std::vector<std::shared_ptr<const BatchFile>> files_;
  std::vector<const uint8_t*> records_;  // start of each record (label byte, then pixels)
  int64_t size_ = 0;
  std::vector<std::string> class_names_;
};

}  // namespace focus::data
