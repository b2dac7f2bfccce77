#include "datasets/png.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "datasets/plot.h"
#include "tensor/kernels.h"

#include <stb_image_write.h>  // the implementation is in libstb

// stb_easy_font is header-only with every function static (no implementation
// macro); we use only some of them, so silence the unused-function warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

namespace focus::data {

namespace {
namespace fs = std::filesystem;

uint8_t to_byte(double unit) {
  return static_cast<uint8_t>(std::lround(std::clamp(unit, 0.0, 1.0) * 255.0));
}

Color mix(Color a, Color b, double t) {
  auto channel = [t](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>(std::lround(x + (static_cast<double>(y) - x) * t));
  };
  return {channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b)};
}

// A float64 contiguous copy of a [H, W] tensor (the raw kernel, no autograd record).
std::vector<double> matrix_values(const Tensor& t, const char* op) {
  if (!t.defined() || t.dim() != 2)
    throw std::invalid_argument(fmt::format("{}: expected a [H, W] tensor, got {}", op,
                                            t.defined() ? shape_str(t.shape()) : "an undefined tensor"));
  return kernels::contiguous_copy(t, kFloat64).to_vector<double>();
}

std::pair<double, double> finite_range(const std::vector<double>& values) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) return {0.0, 1.0};  // nothing finite: any range will do
  return {lo, hi};
}

// Bilinear sample of a w×h grid of values at pixel centres (the align_corners =
// false convention): output pixel x covers source coordinate (x + 0.5) * w / W - 0.5.
struct BilinearTap {
  int i0, i1;
  double t;
};
BilinearTap bilinear_tap(int out, int out_size, int in_size) {
  double source = (out + 0.5) * in_size / out_size - 0.5;
  source = std::clamp(source, 0.0, static_cast<double>(in_size - 1));
  const int i0 = static_cast<int>(source);
  return {i0, std::min(i0 + 1, in_size - 1), source - i0};
}

// stb_easy_font knows printable ASCII only (and reads out of its tables for
// anything else), so text is mapped to it first. Latin-1 letters lose their
// accents, which keeps French tokens in attention plots readable.
std::string to_font_ascii(std::string_view text) {
  static const char* const kLatin1 =  // U+00C0 .. U+00FF
      "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTs"
      "aaaaaaaceeeeiiiidnooooo/ouuuuyty";
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      out += (byte == '\n' || (byte >= 32 && byte < 127)) ? static_cast<char>(byte) : ' ';
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence; a malformed one counts as a single byte.
    int length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    uint32_t code = length == 1 ? byte : byte & (0x7F >> length);
    bool valid = length > 1 && i + length <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    if (!valid) length = 1, code = 0;
    i += length;
    if (code >= 0xC0 && code <= 0xFF) out += kLatin1[code - 0xC0];
    else if (code == 0x152) out += "OE";
    else if (code == 0x153) out += "oe";
    else if (code == 0xAB || code == 0xBB || code == 0x201C || code == 0x201D) out += '"';
    else if (code == 0x2018 || code == 0x2019) out += '\'';
    else if (code == 0x2026) out += "...";
    else if (code == 0xA0 || code == 0x202F) out += ' ';  // no-break spaces, common before French punctuation
    else out += '?';
  }
  return out;
}

// Calls `fill(x0, y0, x1, y1)` for each font rectangle of `text` placed at the
// origin, in font pixels (before scaling).
template <typename Fill>
void for_each_glyph_rect(const std::string& text, Fill fill) {
  // The documented ~270 bytes per character is an average: "0" after "2" needs
  // more, and a short buffer silently drops strokes. No glyph has more than 16
  // strokes of four 16-byte vertices, so 1 KiB per character always fits.
  std::vector<char> vertices(text.size() * 1024 + 64);
  std::string mutable_text = text;  // the font API takes char*
  const int quads = stb_easy_font_print(0, 0, mutable_text.data(), nullptr, vertices.data(),
                                        static_cast<int>(vertices.size()));
  for (int q = 0; q < quads; ++q) {
    float corner[4][2];
    for (int v = 0; v < 4; ++v) std::memcpy(corner[v], vertices.data() + (q * 4 + v) * 16, sizeof(float) * 2);
    // Vertices 0 and 2 are opposite corners of an axis-aligned rectangle.
    fill(std::lround(corner[0][0]), std::lround(corner[0][1]), std::lround(corner[2][0]), std::lround(corner[2][1]));
  }
}
}  // namespace

Color palette(int64_t i) {
  static constexpr std::array<Color, 10> kTab10 = {{{31, 119, 180},
                                                    {255, 127, 14},
                                                    {44, 160, 44},
                                                    {214, 39, 40},
                                                    {148, 103, 189},
                                                    {140, 86, 75},
                                                    {227, 119, 194},
                                                    {127, 127, 127},
                                                    {188, 189, 34},
                                                    {23, 190, 207}}};
  return kTab10[static_cast<size_t>(((i % 10) + 10) % 10)];
}

Color viridis(double t) {
  // Nine samples of matplotlib's viridis, interpolated linearly: close enough to
  // the 256-entry table for pictures, and its brightness still rises monotonically.
  static constexpr std::array<Color, 9> kStops = {{{68, 1, 84},
                                                   {71, 45, 123},
                                                   {59, 82, 139},
                                                   {44, 114, 142},
                                                   {33, 145, 140},
                                                   {40, 174, 128},
                                                   {94, 201, 98},
                                                   {173, 220, 48},
                                                   {253, 231, 37}}};
  if (!(t >= 0.0)) t = 0.0;  // also NaN
  t = std::min(t, 1.0) * (kStops.size() - 1);
  const size_t i = std::min(static_cast<size_t>(t), kStops.size() - 2);
  return mix(kStops[i], kStops[i + 1], t - static_cast<double>(i));
}

Image::Image(int w, int h, Color background) : width(w), height(h) {
  if (w < 0 || h < 0) throw std::invalid_argument(fmt::format("Image: negative size {}x{}", w, h));
  bytes.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    bytes[i] = background.r;
    bytes[i + 1] = background.g;
    bytes[i + 2] = background.b;
  }
}

Image Image::from_tensor(const Tensor& image) { return from_tensor(image, 0.0, 1.0); }

Image Image::from_tensor(const Tensor& image, double min, double max) {
  if (!image.defined()) throw std::invalid_argument("Image::from_tensor: the tensor is undefined");
  const Shape& shape = image.shape();
  const bool grey = image.dim() == 2 || (image.dim() == 3 && shape[0] == 1);
  if (!grey && !(image.dim() == 3 && shape[0] == 3))
    throw std::invalid_argument(
        fmt::format("Image::from_tensor: expected [3, H, W], [1, H, W] or [H, W], got {}", shape_str(shape)));
  if (!(max > min))
    throw std::invalid_argument(fmt::format("Image::from_tensor: max ({}) must be greater than min ({})", max, min));
  const int64_t h = shape[image.dim() - 2], w = shape[image.dim() - 1];
  const std::vector<double> values = kernels::contiguous_copy(image, kFloat64).to_vector<double>();
  Image out(static_cast<int>(w), static_cast<int>(h));
  const int64_t plane = h * w;
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) {
      const double v = values[grey ? p : c * plane + p];
      out.bytes[3 * p + c] = to_byte((v - min) / (max - min));
    }
  return out;
}

Color Image::pixel(int x, int y) const {
  if (x < 0 || y < 0 || x >= width || y >= height)
    throw std::out_of_range(fmt::format("Image::pixel: ({}, {}) is outside a {}x{} image", x, y, width, height));
  const size_t i = 3 * (static_cast<size_t>(y) * width + x);
  return {bytes[i], bytes[i + 1], bytes[i + 2]};
}

void Image::set_pixel(int x, int y, Color color) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  const size_t i = 3 * (static_cast<size_t>(y) * width + x);
  bytes[i] = color.r;
  bytes[i + 1] = color.g;
  bytes[i + 2] = color.b;
}

void Image::blend_pixel(int x, int y, Color color, double alpha) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  set_pixel(x, y, mix(pixel(x, y), color, std::clamp(alpha, 0.0, 1.0)));
}

void Image::save_png(const std::filesystem::path& path) const {
  if (width == 0 || height == 0)
    throw std::invalid_argument(fmt::format("save_png: {} would be an empty {}x{} image", path.string(), width, height));
  std::vector<uint8_t> encoded;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (stbi_write_png_to_func(append, &encoded, width, height, 3, bytes.data(), width * 3) == 0)
    throw std::runtime_error(fmt::format("save_png: could not encode {}", path.string()));
  // A name no other writer (thread or process) uses, in the target's folder so
  // the rename stays on one file system and is atomic.
  static std::atomic<uint64_t> counter{0};
  fs::path temporary = path;
  temporary.replace_filename(fmt::format(".{}.{}-{}.tmp", path.filename().string(), ::getpid(), counter++));
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr)
    throw std::runtime_error(fmt::format("save_png: cannot write {}: {}", path.string(), std::strerror(errno)));
  const bool written = std::fwrite(encoded.data(), 1, encoded.size(), file) == encoded.size();
  const bool closed = std::fclose(file) == 0;
  std::error_code error;
  if (written && closed) fs::rename(temporary, path, error);
  if (!written || !closed || error) {
    fs::remove(temporary, error);
    throw std::runtime_error(fmt::format("save_png: writing {} failed", path.string()));
  }
}

Image Image::scale(int factor) const {
  if (factor < 1) throw std::invalid_argument(fmt::format("Image::scale: factor must be >= 1, got {}", factor));
  Image out(width * factor, height * factor);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) out.set_pixel(x, y, pixel(x / factor, y / factor));
  return out;
}

Image Image::resize(int new_width, int new_height) const {
  if (new_width < 1 || new_height < 1 || width < 1 || height < 1)
    throw std::invalid_argument(
        fmt::format("Image::resize: cannot resize {}x{} to {}x{}", width, height, new_width, new_height));
  Image out(new_width, new_height);
  for (int y = 0; y < new_height; ++y) {
    const BilinearTap ty = bilinear_tap(y, new_height, height);
    for (int x = 0; x < new_width; ++x) {
      const BilinearTap tx = bilinear_tap(x, new_width, width);
      const Color top = mix(pixel(tx.i0, ty.i0), pixel(tx.i1, ty.i0), tx.t);
      const Color bottom = mix(pixel(tx.i0, ty.i1), pixel(tx.i1, ty.i1), tx.t);
      out.set_pixel(x, y, mix(top, bottom, ty.t));
    }
  }
  return out;
}

void Image::fill_rect(int x, int y, int w, int h, Color color) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + w, width), y1 = std::min(y + h, height);
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) set_pixel(xx, yy, color);
}

void Image::draw_rect(int x, int y, int w, int h, Color color, int thickness) {
  thickness = std::max(1, std::min({thickness, (w + 1) / 2, (h + 1) / 2}));
  fill_rect(x, y, w, thickness, color);
  fill_rect(x, y + h - thickness, w, thickness, color);
  fill_rect(x, y, thickness, h, color);
  fill_rect(x + w - thickness, y, thickness, h, color);
}

void Image::draw_line(double x0, double y0, double x1, double y1, Color color, int thickness) {
  // One square pen stamp per pixel step along the longer axis: no gaps at any slope.
  const double steps = std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)));
  if (!std::isfinite(steps)) return;
  const int half = (thickness - 1) / 2;
  for (int64_t i = 0; i <= static_cast<int64_t>(steps); ++i) {
    const double t = steps == 0 ? 0.0 : i / steps;
    const int x = static_cast<int>(std::lround(x0 + (x1 - x0) * t)) - half;
    const int y = static_cast<int>(std::lround(y0 + (y1 - y0) * t)) - half;
    fill_rect(x, y, thickness, thickness, color);
  }
}

void Image::paste(const Image& other, int x, int y) {
  for (int yy = 0; yy < other.height; ++yy)
    for (int xx = 0; xx < other.width; ++xx) set_pixel(x + xx, y + yy, other.pixel(xx, yy));
}

void Image::draw_text(int x, int y, std::string_view text, Color color, int scale) {
  scale = std::max(scale, 1);
  for_each_glyph_rect(to_font_ascii(text), [&](long x0, long y0, long x1, long y1) {
    fill_rect(x + static_cast<int>(x0) * scale, y + static_cast<int>(y0) * scale, static_cast<int>(x1 - x0) * scale,
              static_cast<int>(y1 - y0) * scale, color);
  });
}

void Image::draw_text_vertical(int x, int y, std::string_view text, Color color, int scale) {
  scale = std::max(scale, 1);
  const int w = text_width(text, scale), h = text_height(text, scale);
  // Render upright into a mask, then turn it: mask column c becomes row w - 1 - c.
  Image mask(w, h, kBlack);
  mask.draw_text(0, 0, text, kWhite, scale);
  for (int my = 0; my < h; ++my)
    for (int mx = 0; mx < w; ++mx)
      if (mask.bytes[3 * (static_cast<size_t>(my) * w + mx)] != 0) set_pixel(x + my, y + (w - 1 - mx), color);
}

int Image::text_width(std::string_view text, int scale) {
  std::string ascii = to_font_ascii(text);
  return stb_easy_font_width(ascii.data()) * std::max(scale, 1);
}

int Image::text_height(std::string_view text, int scale) {
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  return 12 * lines * std::max(scale, 1);
}

Image heatmap(const Tensor& values) {
  const std::vector<double> data = matrix_values(values, "heatmap");
  const auto [lo, hi] = finite_range(data);
  return heatmap(values, lo, hi);
}

Image heatmap(const Tensor& values, double min, double max) {
  const std::vector<double> data = matrix_values(values, "heatmap");
  const int h = static_cast<int>(values.size(0)), w = static_cast<int>(values.size(1));
  Image out(w, h);
  // A constant map gets the middle colour rather than a division by zero.
  const double range = max > min ? max - min : 0.0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double v = data[static_cast<size_t>(y) * w + x];
      out.set_pixel(x, y, viridis(range > 0 ? (v - min) / range : 0.5));
    }
  return out;
}

Image overlay(const Image& image, const Tensor& heat, double alpha) {
  const std::vector<double> data = matrix_values(heat, "overlay");
  const int h = static_cast<int>(heat.size(0)), w = static_cast<int>(heat.size(1));
  if (h < 1 || w < 1) throw std::invalid_argument(fmt::format("overlay: empty heat map {}", shape_str(heat.shape())));
  const auto [lo, hi] = finite_range(data);
  const double range = hi > lo ? hi - lo : 0.0;
  // Interpolate the values, then colour them: interpolating colours would leave
  // the colour map (the mean of purple and yellow is not a viridis colour).
  Image out = image;
  for (int y = 0; y < image.height; ++y) {
    const BilinearTap ty = bilinear_tap(y, image.height, h);
    for (int x = 0; x < image.width; ++x) {
      const BilinearTap tx = bilinear_tap(x, image.width, w);
      auto at = [&](int yy, int xx) { return data[static_cast<size_t>(yy) * w + xx]; };
      const double top = at(ty.i0, tx.i0) + (at(ty.i0, tx.i1) - at(ty.i0, tx.i0)) * tx.t;
      const double bottom = at(ty.i1, tx.i0) + (at(ty.i1, tx.i1) - at(ty.i1, tx.i0)) * tx.t;
      const double v = top + (bottom - top) * ty.t;
      out.blend_pixel(x, y, viridis(range > 0 ? (v - lo) / range : 0.5), alpha);
    }
  }
  return out;
}

Image overlay(const Image& image, const Image& heat, double alpha) {
  const Image sized = heat.width == image.width && heat.height == image.height
                          ? heat
                          : heat.resize(image.width, image.height);
  Image out = image;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) out.blend_pixel(x, y, sized.pixel(x, y), alpha);
  return out;
}

Image grid(const std::vector<Image>& images, int columns, int padding, Color background) {
  if (images.empty()) throw std::invalid_argument("grid: no images");
  if (columns < 1) throw std::invalid_argument(fmt::format("grid: columns must be >= 1, got {}", columns));
  if (padding < 0) throw std::invalid_argument(fmt::format("grid: padding must be >= 0, got {}", padding));
  int cell_width = 0, cell_height = 0;
  for (const Image& image : images) {
    cell_width = std::max(cell_width, image.width);
    cell_height = std::max(cell_height, image.height);
  }
  const int count = static_cast<int>(images.size());
  const int used_columns = std::min(columns, count);
  const int rows = (count + columns - 1) / columns;
  Image out(used_columns * (cell_width + padding) + padding, rows * (cell_height + padding) + padding, background);
  for (int i = 0; i < count; ++i)
    out.paste(images[i], padding + (i % columns) * (cell_width + padding),
              padding + (i / columns) * (cell_height + padding));
  return out;
}

Image colorbar(double min, double max, int height, int bar_width, int text_scale) {
  if (height < 2 || bar_width < 1)
    throw std::invalid_argument(fmt::format("colorbar: a {}x{} bar is too small", bar_width, height));
  const double range = max > min ? max - min : 1.0;
  const int scale = std::max(text_scale, 1);
  // As many ticks as fit with a line and a quarter of text between neighbours.
  std::vector<double> ticks;
  for (int wanted = std::max(2, height / (12 * scale)); wanted >= 2; --wanted) {
    ticks = nice_ticks(min, min + range, wanted);
    if (ticks.size() < 2 || (ticks[1] - ticks[0]) / range * height >= 15 * scale) break;
  }
  std::vector<std::string> labels;
  int label_width = 0;
  for (double value : ticks) {
    labels.push_back(format_tick(value, ticks));
    label_width = std::max(label_width, Image::text_width(labels.back(), scale));
  }
  const int half_line = Image::text_height("0", scale) / 2;
  const int tick = 3 * scale, gap = 3 * scale;  // the gap keeps a tick from reading as a minus sign
  // half_line of room above and below, so the end labels are not cut in half.
  Image out(bar_width + tick + gap + label_width + 2, height + 2 * half_line);
  for (int y = 0; y < height; ++y)
    out.fill_rect(0, half_line + y, bar_width, 1, viridis(1.0 - static_cast<double>(y) / (height - 1)));
  out.draw_rect(0, half_line, bar_width, height, kBlack);
  for (size_t i = 0; i < ticks.size(); ++i) {
    const int y = half_line + static_cast<int>(std::lround((1.0 - (ticks[i] - min) / range) * (height - 1)));
    out.fill_rect(bar_width, y, tick, 1, kBlack);
    out.draw_text(bar_width + tick + gap, y - 4 * scale, labels[i], kBlack, scale);
  }
  return out;
}

}  // namespace focus::data
