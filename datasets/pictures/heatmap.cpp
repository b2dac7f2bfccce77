#include "datasets/pictures/heatmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "datasets/pictures/resample.h"
#include "datasets/pictures/ticks.h"
#include "tensor/kernels.h"

namespace focus::pictures {

namespace {
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
}  // namespace

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

}  // namespace focus::pictures
