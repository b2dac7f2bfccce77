#pragma once
// curves.png: the columns of metrics.csv drawn per epoch, one panel per quantity.
#include <filesystem>
#include <string>
#include <vector>

#include "optim/training/metrics_log.h"

namespace focus::training {

/// One curve: a metrics.csv column, multiplied by `scale` (100 turns a fraction into %).
struct CurveSeries {
  std::string label;
  std::string column;
  double scale = 1.0;
};

/// One panel of curves.png: a line plot of some columns against the epoch.
struct CurvePanel {
  std::string title;
  std::string y_label;
  std::vector<CurveSeries> series;
  bool log_y = false;
};

/// Draws the panels side by side into `path` (atomically). A column the log does not have
/// (yet) is left out of its panel; a panel with no column left is skipped.
void save_curves(const MetricsLog& log, const std::vector<CurvePanel>& panels, const std::filesystem::path& path);

}  // namespace focus::training
