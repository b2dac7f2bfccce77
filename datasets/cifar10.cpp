#include "datasets/cifar10.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace focus::data {

namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kStandardClassNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                      "dog",      "frog",       "horse", "ship", "truck"};

// byte / 255 for every byte value, so conversion is one load per pixel and
// exactly the same in get() and get_batch().
const std::array<float, 256>& unit_scale_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = static_cast<float>(i) / 255.0f;
    return t;
  }();
  return table;
}

void convert_pixels(const uint8_t* bytes, float* out) {
  const auto& table = unit_scale_table();
  for (int64_t i = 0; i < CIFAR10::kImageBytes; ++i) out[i] = table[bytes[i]];
}

fs::path batches_directory(const fs::path& root) {
  // Accept the data root ($FOCUS_DATA) as well as the batches folder itself.
  const fs::path nested = root / "cifar-10-batches-bin";
  std::error_code error;
  if (fs::is_directory(nested, error)) return nested;
  return root;
}

std::vector<std::string> read_class_names(const fs::path& directory) {
  const fs::path path = directory / "batches.meta.txt";
  std::ifstream in(path);
  if (!in) return kStandardClassNames;
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    // The official file ends with blank lines; some copies have CRLF endings.
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.size() != static_cast<size_t>(CIFAR10::kNumClasses))
    throw std::runtime_error(fmt::format("CIFAR10: {} lists {} class names, expected {}", path.string(), names.size(),
                                         CIFAR10::kNumClasses));
  return names;
}

int64_t checked_file_size(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error)
    throw std::runtime_error(fmt::format(
        "CIFAR10: cannot open {}: {}. Expected the binary version of CIFAR-10 (data_batch_1.bin .. "
        "data_batch_5.bin, test_batch.bin); scripts/download-cifar10.sh DIR downloads it",
        path.string(), error.message()));
  const auto bytes = static_cast<int64_t>(size);
  if (bytes % CIFAR10::kRecordBytes != 0) {
    const int64_t full = bytes / CIFAR10::kRecordBytes;
    const std::string last = full == 0 ? std::string("it holds no full record")
                                       : fmt::format("the last full record is record {}, ending at byte offset {}",
                                                     full - 1, full * CIFAR10::kRecordBytes);
    throw std::runtime_error(fmt::format(
        "CIFAR10: {} is {} bytes, not a multiple of the {}-byte record (1 label byte + {} pixel bytes): {}, "
        "followed by {} stray bytes. Is the file truncated?",
        path.string(), bytes, CIFAR10::kRecordBytes, CIFAR10::kImageBytes, last, bytes % CIFAR10::kRecordBytes));
  }
  if (bytes == 0) throw std::runtime_error(fmt::format("CIFAR10: {} is empty", path.string()));
  return bytes;
}

}  // namespace

std::vector<std::string> CIFAR10::file_names(Split split) {
  if (split == Split::Test) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
}

// The bytes of one batch file. Mapping beats reading here: fread into fresh
// memory costs a page fault per 4 KiB, which made loading 60,000 images take
// ~0.4 s on our VMs against ~0.05 s for a populated read-only mapping of pages
// the OS already caches. The catch: a file truncated while mapped would fault
// on access, which is why sizes are checked before mapping.
struct CIFAR10::BatchFile {
  const uint8_t* data = nullptr;
  int64_t bytes = 0;
  bool mapped = false;
  std::unique_ptr<uint8_t[]> buffer;  // the fallback copy

  BatchFile(const fs::path& path, int64_t size) : bytes(size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw std::runtime_error(fmt::format("CIFAR10: cannot open {}: {}", path.string(), std::strerror(errno)));
    void* address = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (address != MAP_FAILED) {
      data = static_cast<const uint8_t*>(address);
      mapped = true;
      ::close(fd);
      return;
    }
    // Some file systems cannot map: read the whole file with one call instead.
    buffer = std::make_unique_for_overwrite<uint8_t[]>(static_cast<size_t>(size));
    int64_t done = 0;
    while (done < size) {
      const ssize_t got = ::read(fd, buffer.get() + done, static_cast<size_t>(size - done));
      if (got <= 0) {
        const std::string reason = got < 0 ? std::strerror(errno) : "unexpected end of file";
        ::close(fd);
        throw std::runtime_error(
            fmt::format("CIFAR10: reading {} stopped at byte offset {} of {}: {}", path.string(), done, size, reason));
      }
      done += got;
    }
    ::close(fd);
    data = buffer.get();
  }
  ~BatchFile() {
    if (mapped) ::munmap(const_cast<uint8_t*>(data), static_cast<size_t>(bytes));
  }
  BatchFile(const BatchFile&) = delete;
  BatchFile& operator=(const BatchFile&) = delete;
};

CIFAR10::CIFAR10(const std::filesystem::path& root, Split split) : directory_(batches_directory(root)) {
  // Every size is checked before any file is read, so a truncated last batch
  // fails at once rather than after reading the others.
  std::vector<fs::path> paths;
  std::vector<int64_t> sizes;
  for (const std::string& name : file_names(split)) {
    paths.push_back(directory_ / name);
    sizes.push_back(checked_file_size(paths.back()));
  }
  for (size_t f = 0; f < paths.size(); ++f) {
    files_.push_back(std::make_shared<const BatchFile>(paths[f], sizes[f]));
    const uint8_t* start = files_.back()->data;
    for (int64_t record = 0; record < sizes[f] / kRecordBytes; ++record) {
      const uint8_t label = start[record * kRecordBytes];
      if (label >= kNumClasses)
        throw std::runtime_error(fmt::format(
            "CIFAR10: {} record {} (byte offset {}) has label {}; CIFAR-10 labels are 0..9. Is the file corrupt "
            "(or from CIFAR-100)?",
            paths[f].string(), record, record * kRecordBytes, label));
      records_.push_back(start + record * kRecordBytes);
    }
  }
  size_ = static_cast<int64_t>(records_.size());
  class_names_ = read_class_names(directory_);
}

void CIFAR10::check_index(int64_t index) const {
  if (index < 0 || index >= size_)
    throw std::out_of_range(fmt::format("CIFAR10: index {} is out of range for size {}", index, size_));
}

int64_t CIFAR10::label(int64_t index) const {
  check_index(index);
  return records_[static_cast<size_t>(index)][0];
}

const uint8_t* CIFAR10::pixels(int64_t index) const {
  check_index(index);
  return records_[static_cast<size_t>(index)] + 1;
}

ImageExample CIFAR10::get(int64_t index) const {
  check_index(index);
  ImageExample example{empty({kChannels, kHeight, kWidth}), label(index)};
  // The record's R, G, B planes are already the [C, H, W] layout.
  convert_pixels(pixels(index), example.image.data<float>());
  return example;
}

ImageBatch CIFAR10::get_batch(const std::vector<int64_t>& indices) const {
  const auto count = static_cast<int64_t>(indices.size());
  if (count == 0) throw std::invalid_argument("CIFAR10::get_batch: no indices");
  for (int64_t index : indices) check_index(index);
  ImageBatch batch{empty({count, kChannels, kHeight, kWidth}), empty({count}, kInt64)};
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    convert_pixels(pixels(indices[i]), images + i * kImageBytes);
    labels[i] = label(indices[i]);
  }
  return batch;
}

std::vector<int64_t> CIFAR10::class_counts() const {
  std::vector<int64_t> counts(static_cast<size_t>(kNumClasses), 0);
  for (const uint8_t* record : records_) ++counts[record[0]];
  return counts;
}

}  // namespace focus::data
