#include "datasets/pictures/image.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "datasets/pictures/font.h"
#include "datasets/pictures/resample.h"
#include "datasets/tokenizer.h"
#include "tensor/atomic_file.h"
#include "tensor/kernels.h"

#include <stb_image_write.h>  // the implementation is in libstb

// stb_easy_font is header-only with every function static (no implementation
// macro); we use only some of them, so silence the unused-function warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

namespace focus::pictures {

namespace {

uint8_t to_byte(double unit) {
  return static_cast<uint8_t>(std::lround(std::clamp(unit, 0.0, 1.0) * 255.0));
}

// The fallback when no TrueType font is found (font.h).
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
// The lines of `text` as code points, for a TrueType font: control characters (tabs, DEL, C1)
// become spaces, and malformed UTF-8 becomes U+FFFD, drawn as the font draws it.
std::vector<std::u32string> font_lines(std::string_view text) {
  std::vector<std::u32string> lines(1);
  for (char32_t c : data::utf8::decode(text)) {
    if (c == U'\n') {
      lines.emplace_back();
      continue;
    }
    lines.back() += (c < 32 || (c >= 0x7F && c < 0xA0)) ? U' ' : c;
  }
  return lines;
}

// Every text line is this many pixels high, whichever font draws it.
int line_height(int scale) { return 12 * scale; }

}  // namespace

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
  try {
    write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("save_png: {}", e.what()));
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
  if (const Font* font = label_font()) {
    int top = y;
    for (const std::u32string& line : font_lines(text)) {
      font->draw_line(line, line_height(scale), x, top,
                      [&](int px, int py, double coverage) { blend_pixel(px, py, color, coverage); });
      top += line_height(scale);
    }
    return;
  }
  for_each_glyph_rect(to_font_ascii(text), [&](long x0, long y0, long x1, long y1) {
    fill_rect(x + static_cast<int>(x0) * scale, y + static_cast<int>(y0) * scale, static_cast<int>(x1 - x0) * scale,
              static_cast<int>(y1 - y0) * scale, color);
  });
}

void Image::draw_text_vertical(int x, int y, std::string_view text, Color color, int scale) {
  scale = std::max(scale, 1);
  const int w = text_width(text, scale), h = text_height(text, scale);
  // Render upright into a mask (its brightness is the ink's coverage), then turn it: mask column c
  // becomes row w - 1 - c.
  Image mask(w, h, kBlack);
  mask.draw_text(0, 0, text, kWhite, scale);
  for (int my = 0; my < h; ++my)
    for (int mx = 0; mx < w; ++mx)
      if (const uint8_t coverage = mask.bytes[3 * (static_cast<size_t>(my) * w + mx)])
        blend_pixel(x + my, y + (w - 1 - mx), color, coverage / 255.0);
}

int Image::text_width(std::string_view text, int scale) {
  if (const Font* font = label_font()) {
    int widest = 0;
    for (const std::u32string& line : font_lines(text))
      widest = std::max(widest, font->line_width(line, line_height(std::max(scale, 1))));
    return widest;
  }
  std::string ascii = to_font_ascii(text);
  return stb_easy_font_width(ascii.data()) * std::max(scale, 1);
}

int Image::text_height(std::string_view text, int scale) {
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  return lines * line_height(std::max(scale, 1));
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

}  // namespace focus::pictures
