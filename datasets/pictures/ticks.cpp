#include "datasets/pictures/ticks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace focus::pictures {

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  const double raw_step = (hi - lo) / std::max(1, max_ticks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  const double residual = raw_step / magnitude;
  // Rounded to the nearest nice step (Heckbert, "Nice numbers for graph labels"):
  // always rounding up would often leave only two or three ticks.
  const double step = (residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10) * magnitude;
  const double tolerance = step * 1e-9;
  std::vector<double> ticks;
  // Indexing from the first tick (not accumulating) keeps 0.1 + 0.1 + 0.1 errors out.
  const double first = std::ceil((lo - tolerance) / step);
  for (int64_t k = 0;; ++k) {
    double tick = (first + static_cast<double>(k)) * step;
    if (tick > hi + tolerance) break;
    if (std::abs(tick) < tolerance) tick = 0.0;  // "-0" and "1e-17" both mean zero
    ticks.push_back(tick);
  }
  return ticks;
}

std::string format_tick(double value, const std::vector<double>& ticks) {
  double largest = 0.0;
  for (double t : ticks) largest = std::max(largest, std::abs(t));
  if (largest >= 1e5 || (largest > 0 && largest < 1e-3)) return fmt::format("{:g}", value);
  // The fewest decimals that tell every tick apart exactly (0.25 needs two, 0.5 one).
  for (int decimals = 0; decimals <= 6; ++decimals) {
    const double scale = std::pow(10.0, decimals);
    bool exact = true;
    for (double t : ticks) exact = exact && std::abs(t * scale - std::round(t * scale)) < 1e-6;
    if (exact) return fmt::format("{:.{}f}", value, decimals);
  }
  return fmt::format("{:g}", value);
}

}  // namespace focus::pictures
