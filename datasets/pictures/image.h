#pragma once
// An RGB picture in memory: pixels, rectangles, lines, text, and PNG output.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/pictures/color.h"
#include "tensor/tensor.h"

namespace focus::pictures {

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

  /// Draws `text` (UTF-8; '\n' starts a new line) with its top-left corner at
  /// (x, y), anti-aliased in the label font (font.h: DejaVu Sans, or $FOCUS_FONT),
  /// so "clés", « » and Cyrillic come out as written. Without a TrueType font, in
  /// the stb_easy_font bitmap font, each font pixel a scale×scale block: ASCII,
  /// accented letters without their accents, other characters as '?'. A line is
  /// text_height(…, scale) = 12 * scale high either way.
  void draw_text(int x, int y, std::string_view text, Color color, int scale = 1);
  /// The same text turned 90° anticlockwise (reads bottom to top), for a
  /// y-axis label; occupies text_height × text_width from (x, y).
  void draw_text_vertical(int x, int y, std::string_view text, Color color, int scale = 1);
  /// Width in pixels of the widest line of `text`.
  static int text_width(std::string_view text, int scale = 1);
  /// Height in pixels of `text` (12 * scale per line).
  static int text_height(std::string_view text, int scale = 1);
};

/// Tiles images row by row, `columns` per row, `padding` pixels around each;
/// each cell is as large as the largest image.
Image grid(const std::vector<Image>& images, int columns, int padding = 2, Color background = kWhite);

}  // namespace focus::pictures
