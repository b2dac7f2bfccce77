#include "datasets/pictures/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/ticks.h"
#include "tensor/kernels.h"

namespace focus::pictures {

namespace {

bool is_integral(double v) { return std::isfinite(v) && v == std::round(v); }

// Perceived brightness (Rec. 709 weights), to pick black or white text on a cell.
double luminance(Color c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

// Text vertically centred on y: the font's glyphs sit in the top 9 of each 12-pixel line.
void draw_text_centred_at(Image& image, int x, int y, const std::string& text, Color color, int scale) {
  image.draw_text(x, y - 4 * scale, text, color, scale);
}

std::string format_value(double v, bool integral, double largest) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  if (integral) return fmt::format("{:.0f}", v);
  std::string text = largest < 100 ? fmt::format("{:.2f}", v) : fmt::format("{:.3g}", v);
  // A value that rounds to zero is shown as 0, without the sign of a tiny negative or of −0.
  if (text.front() == '-' && text.find_first_not_of("-0.") == std::string::npos) text.erase(0, 1);
  return text;
}

}  // namespace

Image line_plot(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                const std::string& y_label, const LinePlotOptions& options) {
  if (series.empty()) throw std::invalid_argument("line_plot: no series to draw");
  const int s = std::max(options.text_scale, 1);
  const int line = Image::text_height("0", s);

  // Points in data coordinates (log10 y on a log axis), and their bounds.
  std::vector<std::vector<std::pair<double, double>>> points(series.size());
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  bool integral_x = true;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& curve = series[i];
    if (!curve.x.empty() && curve.x.size() != curve.y.size())
      throw std::invalid_argument(fmt::format("line_plot: series '{}' has {} x values and {} y values", curve.name,
                                              curve.x.size(), curve.y.size()));
    for (size_t k = 0; k < curve.y.size(); ++k) {
      const double x = curve.x.empty() ? static_cast<double>(k + 1) : curve.x[k];
      double y = curve.y[k];
      if (options.log_y) y = y > 0 ? std::log10(y) : NAN;
      points[i].emplace_back(x, y);  // NaN kept: it breaks the line
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_min = std::min(x_min, x), x_max = std::max(x_max, x);
      y_min = std::min(y_min, y), y_max = std::max(y_max, y);
      integral_x = integral_x && is_integral(x);
    }
  }
  if (x_min > x_max) x_min = 0, x_max = 1, y_min = 0, y_max = 1;  // nothing finite: empty axes
  if (x_min == x_max) x_min -= 0.5, x_max += 0.5;
  if (y_min == y_max) {
    const double pad = std::max(std::abs(y_min) * 0.1, 1e-3);
    y_min -= pad, y_max += pad;
  }
  // Margins keep the curves (and their end markers) off the frame.
  const double y_pad = (y_max - y_min) * 0.05, x_pad = (x_max - x_min) * 0.02;
  y_min -= y_pad, y_max += y_pad;
  x_min -= x_pad, x_max += x_pad;

  std::vector<double> x_ticks = nice_ticks(x_min, x_max, std::max(2, options.width / (70 * s)));
  if (integral_x) std::erase_if(x_ticks, [](double t) { return !is_integral(t); });  // no "epoch 1.5"
  std::vector<double> y_ticks;
  std::vector<std::string> y_tick_labels;
  if (options.log_y) {
    for (double e = std::ceil(y_min); e <= y_max; ++e) y_ticks.push_back(e);
    if (y_ticks.size() < 2) y_ticks = nice_ticks(y_min, y_max, 5);  // under a decade: plain ticks on log10
    for (double t : y_ticks) y_tick_labels.push_back(fmt::format("{:.3g}", std::pow(10.0, t)));
  } else {
    y_ticks = nice_ticks(y_min, y_max, std::max(3, options.height / (35 * s)));
    for (double t : y_ticks) y_tick_labels.push_back(format_tick(t, y_ticks));
  }
  int y_tick_width = 0;
  for (const std::string& label : y_tick_labels) y_tick_width = std::max(y_tick_width, Image::text_width(label, s));

  // Layout: title above; y label, tick labels left; tick labels, x label below.
  const int pad = 6 * s, tick = 4 * s;
  const int left = pad + (y_label.empty() ? 0 : line + pad) + y_tick_width + tick + pad;
  const int top = pad + (title.empty() ? 0 : line + pad);
  const int bottom = tick + pad + line + (x_label.empty() ? 0 : line + pad) + pad;
  const int right = 10 * s + Image::text_width(format_tick(x_ticks.empty() ? 0 : x_ticks.back(), x_ticks), s) / 2;
  const int plot_w = options.width - left - right, plot_h = options.height - top - bottom;
  if (plot_w < 20 || plot_h < 20)
    throw std::invalid_argument(
        fmt::format("line_plot: a {}x{} picture leaves no room for the axes", options.width, options.height));
  Image image(options.width, options.height);
  auto to_px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * (plot_w - 1); };
  auto to_py = [&](double y) { return top + (y_max - y) / (y_max - y_min) * (plot_h - 1); };

  if (!title.empty()) image.draw_text((options.width - Image::text_width(title, s)) / 2, pad, title, kBlack, s);
  for (size_t i = 0; i < y_ticks.size(); ++i) {
    const int y = static_cast<int>(std::lround(to_py(y_ticks[i])));
    image.fill_rect(left, y, plot_w, 1, kLightGray);
    image.fill_rect(left - tick, y, tick, 1, kBlack);
    draw_text_centred_at(image, left - tick - pad / 2 - Image::text_width(y_tick_labels[i], s), y, y_tick_labels[i],
                         kBlack, s);
  }
  for (double t : x_ticks) {
    const int x = static_cast<int>(std::lround(to_px(t)));
    const std::string label = format_tick(t, x_ticks);
    image.fill_rect(x, top, 1, plot_h, kLightGray);
    image.fill_rect(x, top + plot_h, 1, tick, kBlack);
    image.draw_text(x - Image::text_width(label, s) / 2, top + plot_h + tick + pad / 2, label, kBlack, s);
  }
  image.draw_rect(left, top, plot_w, plot_h, kBlack);
  if (!x_label.empty())
    image.draw_text(left + (plot_w - Image::text_width(x_label, s)) / 2, top + plot_h + tick + pad + line, x_label,
                    kBlack, s);
  if (!y_label.empty())
    image.draw_text_vertical(pad, top + (plot_h - Image::text_width(y_label, s)) / 2, y_label, kBlack, s);

  const int thickness = std::max(2, s);
  for (size_t i = 0; i < series.size(); ++i) {
    const Color color = palette(static_cast<int64_t>(i));
    const auto& curve = points[i];
    const bool markers = curve.size() <= 40;  // few points (epochs): show each one
    for (size_t k = 0; k < curve.size(); ++k) {
      const auto [x, y] = curve[k];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const double px = to_px(x), py = to_py(y);
      if (k > 0 && std::isfinite(curve[k - 1].first) && std::isfinite(curve[k - 1].second))
        image.draw_line(to_px(curve[k - 1].first), to_py(curve[k - 1].second), px, py, color, thickness);
      if (markers) {
        const int r = thickness + 1;
        image.fill_rect(static_cast<int>(std::lround(px)) - r, static_cast<int>(std::lround(py)) - r, 2 * r + 1,
                        2 * r + 1, color);
      }
    }
  }

  // Legend in the corner of the plot area that hides the fewest curve pixels: top right for
  // falling losses, bottom right for rising accuracies.
  int name_width = 0;
  for (const Series& curve : series) name_width = std::max(name_width, Image::text_width(curve.name, s));
  if (name_width > 0) {
    const int swatch = 12 * s;
    const int box_w = pad + swatch + pad + name_width + pad;
    const int box_h = pad + static_cast<int>(series.size()) * line + pad / 2;
    const int corners[4][2] = {{left + plot_w - box_w - pad, top + pad},
                               {left + plot_w - box_w - pad, top + plot_h - box_h - pad},
                               {left + pad, top + pad},
                               {left + pad, top + plot_h - box_h - pad}};
    auto hidden_by = [&](int x0, int y0) {
      int covered = 0;
      for (int y = y0; y < y0 + box_h; ++y)
        for (int x = x0; x < x0 + box_w; ++x) {
          const Color c = image.pixel(x, y);
          covered += c != kWhite && c != kLightGray;  // curves and markers, not background or grid
        }
      return covered;
    };
    int best = 0, fewest = hidden_by(corners[0][0], corners[0][1]);
    for (int k = 1; k < 4 && fewest > 0; ++k)
      if (const int n = hidden_by(corners[k][0], corners[k][1]); n < fewest) fewest = n, best = k;
    const int box_x = corners[best][0], box_y = corners[best][1];
    image.fill_rect(box_x, box_y, box_w, box_h, kWhite);
    image.draw_rect(box_x, box_y, box_w, box_h, kGray);
    for (size_t i = 0; i < series.size(); ++i) {
      const int y = box_y + pad + static_cast<int>(i) * line + line / 2 - s;
      image.fill_rect(box_x + pad, y - thickness / 2, swatch, thickness, palette(static_cast<int64_t>(i)));
      draw_text_centred_at(image, box_x + pad + swatch + pad, y, series[i].name, kBlack, s);
    }
  }
  return image;
}

Image matrix_plot(const Tensor& matrix, const std::vector<std::string>& row_labels,
                  const std::vector<std::string>& col_labels, const std::string& title,
                  const MatrixPlotOptions& options) {
  if (!matrix.defined() || matrix.dim() != 2)
    throw std::invalid_argument(fmt::format("matrix_plot: expected a [R, C] matrix, got {}",
                                            matrix.defined() ? shape_str(matrix.shape()) : "an undefined tensor"));
  const int rows = static_cast<int>(matrix.size(0)), cols = static_cast<int>(matrix.size(1));
  if (rows == 0 || cols == 0) throw std::invalid_argument("matrix_plot: the matrix is empty");
  if (!row_labels.empty() && static_cast<int>(row_labels.size()) != rows)
    throw std::invalid_argument(fmt::format("matrix_plot: {} row labels for a matrix of shape {}", row_labels.size(),
                                            shape_str(matrix.shape())));
  if (!col_labels.empty() && static_cast<int>(col_labels.size()) != cols)
    throw std::invalid_argument(fmt::format("matrix_plot: {} column labels for a matrix of shape {}",
                                            col_labels.size(), shape_str(matrix.shape())));
  auto label = [](const std::vector<std::string>& labels, int i) {
    return labels.empty() ? std::to_string(i) : labels[static_cast<size_t>(i)];
  };

  const std::vector<double> values = kernels::contiguous_copy(matrix, kFloat64).to_vector<double>();
  double lo = INFINITY, hi = -INFINITY, largest = 0;
  bool integral = true;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v), largest = std::max(largest, std::abs(v));
    integral = integral && is_integral(v);
  }
  if (lo > hi) lo = 0, hi = 1;
  lo = options.min.value_or(lo);
  hi = options.max.value_or(hi);
  const double range = hi > lo ? hi - lo : 0.0;

  const int s = std::max(options.text_scale, 1);
  const int line = Image::text_height("0", s), pad = 6 * s;
  std::vector<std::string> cell_text(values.size());
  int value_width = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    cell_text[i] = format_value(values[i], integral, largest);
    value_width = std::max(value_width, Image::text_width(cell_text[i], s));
  }
  int cell = options.cell_size;
  if (cell <= 0) {
    cell = std::max(options.show_values ? value_width + 6 * s : 0, 20 * s);
    cell = std::min(cell, std::max(4, 1600 / std::max(rows, cols)));  // keep large matrices on screen
  }
  const bool values_fit = options.show_values && value_width + 2 <= cell && line - 3 * s <= cell;

  int row_label_width = 0, col_label_width = 0;
  for (int r = 0; r < rows; ++r) row_label_width = std::max(row_label_width, Image::text_width(label(row_labels, r), s));
  for (int c = 0; c < cols; ++c) col_label_width = std::max(col_label_width, Image::text_width(label(col_labels, c), s));
  const bool vertical_cols = col_label_width > cell - 2;  // tokens longer than a cell stand upright
  const int col_label_height = vertical_cols ? col_label_width : line;

  const int grid_w = cols * cell, grid_h = rows * cell;
  const int left = pad + (options.row_axis.empty() ? 0 : line + pad) + row_label_width + pad;
  const int top = pad + (title.empty() ? 0 : line + pad);
  const Image bar = colorbar(lo, range > 0 ? hi : lo + 1, std::max(grid_h, 60), 16, s);
  const int width = left + grid_w + 3 * pad + bar.width + pad;
  const int height = top + std::max(grid_h + pad + col_label_height, bar.height - line / 2) +
                     (options.col_axis.empty() ? 0 : pad + line) + pad;
  Image image(width, height);

  if (!title.empty())
    image.draw_text(std::max(pad, left + (grid_w - Image::text_width(title, s)) / 2), pad, title, kBlack, s);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r) * cols + c;
      const double v = values[i];
      const Color color = std::isfinite(v) ? viridis(range > 0 ? (v - lo) / range : 0.5) : kLightGray;
      image.fill_rect(left + c * cell, top + r * cell, cell, cell, color);
      if (values_fit) {
        const Color ink = luminance(color) < 140 ? kWhite : kBlack;
        draw_text_centred_at(image, left + c * cell + (cell - Image::text_width(cell_text[i], s)) / 2,
                             top + r * cell + cell / 2, cell_text[i], ink, s);
      }
    }
  image.draw_rect(left - 1, top - 1, grid_w + 2, grid_h + 2, kBlack);

  for (int r = 0; r < rows; ++r) {
    const std::string text = label(row_labels, r);
    draw_text_centred_at(image, left - pad - Image::text_width(text, s), top + r * cell + cell / 2, text, kBlack, s);
  }
  const int labels_top = top + grid_h + pad;
  for (int c = 0; c < cols; ++c) {
    const std::string text = label(col_labels, c);
    const int centre = left + c * cell + cell / 2;
    if (vertical_cols)  // reads upwards and ends at the grid, as rotated tick labels do
      image.draw_text_vertical(centre - 5 * s, labels_top, text, kBlack, s);
    else
      image.draw_text(centre - Image::text_width(text, s) / 2, labels_top, text, kBlack, s);
  }
  if (!options.col_axis.empty())
    image.draw_text(left + (grid_w - Image::text_width(options.col_axis, s)) / 2,
                    labels_top + col_label_height + pad, options.col_axis, kBlack, s);
  if (!options.row_axis.empty())
    image.draw_text_vertical(pad, top + (grid_h - Image::text_width(options.row_axis, s)) / 2, options.row_axis,
                             kBlack, s);
  // The bar's own margin holds its end labels; shifting by it lines the bar up with the grid.
  image.paste(bar, left + grid_w + 3 * pad, top - line / 2);
  return image;
}

}  // namespace focus::pictures
