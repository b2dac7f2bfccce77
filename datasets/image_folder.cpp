#include "datasets/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <stb_image_resize.h>  // the implementation is in libstb

namespace focus::data {

namespace {
namespace fs = std::filesystem;

// A PNG's or BMP's size sits in its first few dozen bytes, a JPEG's after its metadata segments,
// nearly always within 64 KiB. The construction-time check reads that much, and the whole file
// only when it was not enough.
constexpr size_t kHeaderReadBytes = size_t{64} << 10;
constexpr size_t kWholeFile = SIZE_MAX;

bool is_image_file(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg" || extension == ".bmp";
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// The first `wanted` bytes of the file, or all of it when shorter. Throws naming the path when it
// cannot be read or holds more than kMaxImageFileBytes.
std::vector<unsigned char> read_file_start(const fs::path& path, size_t wanted) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw std::runtime_error(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  std::error_code no_size;  // not a regular file: a pipe or device tells its size only by ending
  const uintmax_t file_bytes = fs::file_size(path, no_size);
  if (!no_size && file_bytes > static_cast<uintmax_t>(kMaxImageFileBytes))
    throw std::runtime_error(
        fmt::format("{}: the file is {} bytes; focus reads image files of up to {} bytes (256 MiB)", path.string(),
                    file_bytes, kMaxImageFileBytes));
  // One byte over the limit tells a file that grew past it (or a device that never ends).
  const size_t limit = std::min(wanted, static_cast<size_t>(kMaxImageFileBytes) + 1);
  std::vector<unsigned char> bytes(std::min(limit, no_size ? kHeaderReadBytes : static_cast<size_t>(file_bytes) + 1));
  size_t have = 0;
  for (;;) {
    have += std::fread(bytes.data() + have, 1, bytes.size() - have, file.get());
    if (have < bytes.size() || bytes.size() == limit) break;  // the end of the file, or enough
    bytes.resize(std::min(limit, 2 * bytes.size()));
  }
  if (std::ferror(file.get()))
    throw std::runtime_error(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  bytes.resize(have);
  if (have > static_cast<size_t>(kMaxImageFileBytes))
    throw std::runtime_error(fmt::format("{}: the file is over {} bytes; focus reads image files of up to 256 MiB",
                                         path.string(), kMaxImageFileBytes));
  return bytes;
}

// Runs `read`, putting `who` (the function the user called) in front of its error message.
template <typename Read>
auto with_caller(const char* who, Read&& read) {
  try {
    return read();
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("{}: {}", who, error.what()));
  }
}

// Checks format, size and colour space from the header alone, before anything is decoded.
void check_image_header(const fs::path& path) {
  const std::vector<unsigned char> start = read_file_start(path, kHeaderReadBytes);
  if (start.size() < kHeaderReadBytes) {  // the whole file
    read_image_header(start, path.string());
    return;
  }
  try {
    read_image_header(start, path.string());
  } catch (const std::runtime_error&) {
    read_image_header(read_file_start(path, kWholeFile), path.string());  // a JPEG header past 64 KiB
  }
}
}  // namespace

Tensor load_image(const std::filesystem::path& path, int64_t height, int64_t width) {
  const DecodedImage decoded =
      with_caller("load_image", [&] { return decode_image(read_file_start(path, kWholeFile), path.string()); });
  const auto file_width = static_cast<int>(decoded.width);  // at most kMaxImagePixels
  const auto file_height = static_cast<int>(decoded.height);
  const int out_width = width > 0 ? static_cast<int>(width) : file_width;
  const int out_height = height > 0 ? static_cast<int>(height) : file_height;
  std::unique_ptr<unsigned char[]> resized;
  const unsigned char* source = decoded.rgb.data();
  if (out_width != file_width || out_height != file_height) {
    // stb's filtered resampler: bilinear-like when enlarging, and it averages
    // the covered area when shrinking (plain bilinear would alias, e.g. 500 → 32).
    resized = std::make_unique<unsigned char[]>(static_cast<size_t>(out_width) * out_height * 3);
    if (stbir_resize_uint8(decoded.rgb.data(), file_width, file_height, 0, resized.get(), out_width, out_height, 0,
                           3) == 0)
      throw std::runtime_error(fmt::format("load_image: cannot resize {} from {}x{} to {}x{}", path.string(),
                                           file_width, file_height, out_width, out_height));
    source = resized.get();
  }
  // Interleaved RGB (HWC) to planes (CHW).
  Tensor image = empty({3, out_height, out_width});
  float* out = image.data<float>();
  const int64_t plane = static_cast<int64_t>(out_height) * out_width;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < 3; ++c) out[c * plane + p] = static_cast<float>(source[3 * p + c]) / 255.0f;
  return image;
}

Tensor load_image(const std::filesystem::path& path, int64_t size) { return load_image(path, size, size); }

ImageFolder::ImageFolder(const std::filesystem::path& root, int64_t image_size) : image_size_(image_size) {
  if (image_size < 1)
    throw std::invalid_argument(fmt::format("ImageFolder: image_size must be >= 1, got {}", image_size));
  std::error_code error;
  if (!fs::is_directory(root, error))
    throw std::runtime_error(fmt::format("ImageFolder: {} is not a directory", root.string()));
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && entry.path().filename().string().front() != '.') class_dirs.push_back(entry.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty())
    throw std::runtime_error(fmt::format("ImageFolder: {} has no class subfolders (expected root/<class>/<image>)",
                                         root.string()));
  for (const fs::path& dir : class_dirs) {
    const auto label = static_cast<int64_t>(class_names_.size());
    class_names_.push_back(dir.filename().string());
    std::vector<fs::path> images;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && is_image_file(entry.path())) images.push_back(entry.path());
    if (images.empty())
      throw std::runtime_error(fmt::format("ImageFolder: class folder {} has no .png, .jpg, .jpeg or .bmp files",
                                           dir.string()));
    std::sort(images.begin(), images.end());
    for (fs::path& image : images) {
      with_caller("ImageFolder", [&] { check_image_header(image); });
      files_.push_back({std::move(image), label});
    }
  }
}

const std::filesystem::path& ImageFolder::path(int64_t index) const {
  if (index < 0 || index >= size())
    throw std::out_of_range(fmt::format("ImageFolder: index {} is out of range for size {}", index, size()));
  return files_[static_cast<size_t>(index)].path;
}

int64_t ImageFolder::label(int64_t index) const {
  path(index);  // range check
  return files_[static_cast<size_t>(index)].label;
}

ImageExample ImageFolder::get(int64_t index) const {
  const fs::path& file = path(index);
  return {load_image(file, image_size_), files_[static_cast<size_t>(index)].label};
}

}  // namespace focus::data
