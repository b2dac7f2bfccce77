#include "datasets/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <stb_image.h>  // the implementations are in libstb
#include <stb_image_resize.h>

namespace focus::data {

namespace {
namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg" || extension == ".bmp";
}

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

// The formats focus decodes, told by their first bytes, never by the name: stb_image knows more
// (GIF, HDR, TGA, PSD, PIC, PNM), and those decoders have been made to allocate gigabytes or abort
// on a few crafted bytes, so a file in any of them is refused before a decoder sees it.
const char* image_format(const std::string& head) {
  if (head.rfind("\x89PNG\r\n\x1a\n", 0) == 0) return "PNG";
  if (head.rfind("\xff\xd8\xff", 0) == 0) return "JPEG";
  if (head.rfind("BM", 0) == 0) return "BMP";
  return nullptr;
}

// Checks that `path` is a PNG, JPEG or BMP whose header gives a size from 1×1 to kMaxImagePixels,
// before anything is decoded. `who` starts the message.
void check_image_file(const fs::path& path, const char* who) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw std::runtime_error(fmt::format("{}: cannot open {}", who, path.string()));
  char bytes[8] = {};
  const size_t got = std::fread(bytes, 1, sizeof bytes, file);
  std::fclose(file);
  if (!image_format(std::string(bytes, got)))
    throw std::runtime_error(fmt::format("{}: {} is not a PNG, JPEG or BMP file (its first bytes are {:?})", who,
                                         path.string(), std::string(bytes, got)));
  int w = 0, h = 0, channels = 0;
  if (stbi_info(path.c_str(), &w, &h, &channels) == 0)
    throw std::runtime_error(fmt::format("{}: cannot read {}: {}", who, path.string(), stbi_failure_reason()));
  if (w < 1 || h < 1 || static_cast<int64_t>(w) * h > kMaxImagePixels)
    throw std::runtime_error(fmt::format("{}: {} says it is {}x{} pixels; focus reads images of 1 to {} pixels", who,
                                         path.string(), w, h, kMaxImagePixels));
}
}  // namespace

Tensor load_image(const std::filesystem::path& path, int64_t height, int64_t width) {
  check_image_file(path, "load_image");
  int file_width = 0, file_height = 0, file_channels = 0;
  // Asking for 3 channels makes stb expand grey and drop alpha for us.
  std::unique_ptr<unsigned char, StbFree> pixels(stbi_load(path.c_str(), &file_width, &file_height, &file_channels, 3));
  if (!pixels)
    throw std::runtime_error(fmt::format("load_image: cannot read {}: {}", path.string(), stbi_failure_reason()));
  const int out_width = width > 0 ? static_cast<int>(width) : file_width;
  const int out_height = height > 0 ? static_cast<int>(height) : file_height;
  std::unique_ptr<unsigned char[]> resized;
  const unsigned char* source = pixels.get();
  if (out_width != file_width || out_height != file_height) {
    // stb's filtered resampler: bilinear-like when enlarging, and it averages
    // the covered area when shrinking (plain bilinear would alias, e.g. 500 → 32).
    resized = std::make_unique<unsigned char[]>(static_cast<size_t>(out_width) * out_height * 3);
    if (stbir_resize_uint8(pixels.get(), file_width, file_height, 0, resized.get(), out_width, out_height, 0, 3) == 0)
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
      check_image_file(image, "ImageFolder");
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
