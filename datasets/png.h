#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace focus::data {

/// An 8-bit RGB colour.
struct Color {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  bool operator==(const Color&) const = default;
};

inline constexpr Color kWhite{255, 255, 255};
inline constexpr Color kBlack{0, 0, 0};
inline constexpr Color kGray{128, 128, 128};
inline constexpr Color kLightGray{220, 220, 220};

/// The i-th colour of a ten-colour palette (matplotlib's "tab10"), cycling:
/// distinct colours for plot series and classes.
Color palette(int64_t i);

/// The viridis colour map at t in [0, 1] (clamped): dark purple through blue
/// and green to yellow, brightness rising monotonically, readable in grey.
Color viridis(double t);

/// An RGB picture in memory, the canvas the plots and visualisations draw on.
/// Pixel (x, y) is bytes[3 * (y * width + x) + {0, 1, 2}]; y grows downwards.
/// Drawing outside the canvas is clipped, never an error.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> bytes;

  Image() = default;
  /// A width×height canvas filled with `background`.
  Image(int width, int height, Color background = kWhite);

  /// From a float image [3, H, W] (RGB) or [H, W] / [1, H, W] (grey) with values
  /// in [0, 1]; values outside are clamped.
  static Image from_tensor(const Tensor& image);
  /// Same, mapping `min` to black and `max` to full intensity (e.g. an image
  /// that was normalised).
  static Image from_tensor(const Tensor& image, double min, double max);

  Color pixel(int x, int y) const;
  void set_pixel(int x, int y, Color color);
  /// Mixes `color` into pixel (x, y): (1 - alpha) * old + alpha * color.
  void blend_pixel(int x, int y, Color color, double alpha);

  /// Writes a PNG atomically: into a temporary file in the same folder, then
  /// renamed over `path`, so a reader never sees half a picture. Throws naming
  /// the path when the folder does not exist or is not writable.
  void save_png(const std::filesystem::path& path) const;

  /// Each pixel becomes a factor×factor block (nearest neighbour), for small
  /// pictures like 32×32 CIFAR images.
  Image scale(int factor) const;
  /// Bilinear resampling to new_width×new_height.
  Image resize(int new_width, int new_height) const;

  void fill_rect(int x, int y, int w, int h, Color color);
  /// Outline of the rectangle, `thickness` pixels wide, drawn inside it.
  void draw_rect(int x, int y, int w, int h, Color color, int thickness = 1);
  /// A straight line between two points with square ends, `thickness` pixels wide.
  void draw_line(double x0, double y0, double x1, double y1, Color color, int thickness = 1);
  /// Copies `other` with its top-left corner at (x, y).
  void paste(const Image& other, int x, int y);

  /// Draws `text` (ASCII; '\n' starts a new line; common accented letters are
  /// shown without their accents, other characters as '?') with its top-left
  /// corner at (x, y), in the stb_easy_font bitmap font, each font pixel a
  /// scale×scale block. A line is text_height(…, scale) = 12 * scale high.
  void draw_text(int x, int y, std::string_view text, Color color, int scale = 1);
  /// The same text turned 90° anticlockwise (reads bottom to top), for a
  /// y-axis label; occupies text_height × text_width from (x, y).
  void draw_text_vertical(int x, int y, std::string_view text, Color color, int scale = 1);
  /// Width in pixels of the widest line of `text`.
  static int text_width(std::string_view text, int scale = 1);
  /// Height in pixels of `text` (12 * scale per line).
  static int text_height(std::string_view text, int scale = 1);
};

/// A [H, W] tensor as a viridis heat map, lowest value darkest; the range is the
/// tensor's own min and max.
Image heatmap(const Tensor& values);
/// Same with a fixed range (values outside are clamped), to compare maps.
Image heatmap(const Tensor& values, double min, double max);

/// Blends a heat map over a picture: `heat` [h, w] is upsampled bilinearly to
/// the picture's size, coloured with viridis over its own range, and mixed in
/// with weight alpha (0: picture only, 1: heat only). For attention maps.
Image overlay(const Image& image, const Tensor& heat, double alpha);
/// Blends an already coloured picture (resized bilinearly when sizes differ).
Image overlay(const Image& image, const Image& heat, double alpha);

/// Tiles images row by row, `columns` per row, `padding` pixels around each;
/// each cell is as large as the largest image.
Image grid(const std::vector<Image>& images, int columns, int padding = 2, Color background = kWhite);

/// A vertical colour bar for the range [min, max] (max at the top), `bar_width`
/// pixels wide and `height` high, with tick values written on its right.
Image colorbar(double min, double max, int height, int bar_width = 16, int text_scale = 1);

}  // namespace focus::data
