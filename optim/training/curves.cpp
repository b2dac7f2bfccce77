#include "optim/training/curves.h"

#include "datasets/pictures/plot.h"

namespace focus::training {

void save_curves(const MetricsLog& log, const std::vector<CurvePanel>& panels, const std::filesystem::path& path) {
  if (log.rows() == 0 || panels.empty()) return;
  const std::vector<double> epochs = log.column("epoch");
  std::vector<pictures::Image> plots;
  for (const CurvePanel& panel : panels) {
    std::vector<pictures::Series> series;
    for (const CurveSeries& curve : panel.series) {
      if (!log.has_column(curve.column)) continue;
      std::vector<double> values = log.column(curve.column);
      for (double& v : values) v *= curve.scale;
      series.push_back({curve.label, values, epochs});
    }
    if (series.empty()) continue;
    pictures::LinePlotOptions options;
    options.log_y = panel.log_y;
    plots.push_back(pictures::line_plot(series, panel.title, "epoch", panel.y_label, options));
  }
  if (!plots.empty()) pictures::grid(plots, static_cast<int>(plots.size()), 8).save_png(path);
}

}  // namespace focus::training
