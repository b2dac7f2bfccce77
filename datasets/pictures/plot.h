#pragma once
// Plots: line plots of training curves and matrix plots (confusion matrices, attention alignments).
#include <optional>
#include <string>
#include <vector>

#include "datasets/pictures/image.h"
#include "tensor/tensor.h"

namespace focus::pictures {

/// One named curve of a line plot. With `x` empty the points are at x = 1, 2,
/// 3, ... (epochs or steps). Non-finite y values (a diverged loss) leave a gap.
struct Series {
  // Default member initializers let {"train", losses} omit x without -Wextra warnings.
  std::string name{};
  std::vector<double> y{};
  std::vector<double> x{};
};

/// Size and axes of a line plot.
struct LinePlotOptions {
  int width = 800;
  int height = 500;
  /// Logarithmic y axis (values <= 0 are skipped), for losses over orders of magnitude.
  bool log_y = false;
  /// Text size multiplier for titles, labels and ticks.
  int text_scale = 2;
};

/// Curves with axes, numbered ticks, axis labels, a title and a legend, e.g.
/// train and validation loss per epoch. Each series gets a palette colour.
Image line_plot(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                const std::string& y_label, const LinePlotOptions& options = {});

/// How a matrix plot looks.
struct MatrixPlotOptions {
  /// Write each cell's value in it (integers as integers, else two decimals).
  bool show_values = true;
  /// Axis titles, e.g. "true class" and "predicted class", or "target" and "source".
  std::string row_axis{};
  std::string col_axis{};
  /// Side of a square cell in pixels; 0 picks one that fits the values.
  int cell_size = 0;
  /// Colour range; the matrix's own min and max when not given.
  std::optional<double> min{};
  std::optional<double> max{};
  /// Text size multiplier for titles, labels and values.
  int text_scale = 2;
};

/// A matrix [R, C] as coloured cells with labelled rows and columns, a title
/// and a colour bar: a confusion matrix (rows true class, columns predicted) or
/// an attention alignment (rows target tokens, columns source tokens). Long
/// column labels are written vertically. Label counts must match the shape
/// (or be empty, which numbers the rows/columns).
Image matrix_plot(const Tensor& matrix, const std::vector<std::string>& row_labels,
                  const std::vector<std::string>& col_labels, const std::string& title,
                  const MatrixPlotOptions& options = {});

}  // namespace focus::pictures
