#pragma once
// Axis ticks: round positions and the text written beside them.
#include <string>
#include <vector>

namespace focus::pictures {

/// Round tick positions ("nice numbers": 1, 2 or 5 times a power of ten)
/// inside [lo, hi], about `max_ticks` of them (the step is rounded to the
/// nearest nice number, so there may be up to half as many again).
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 6);

/// A tick value as short text with as many decimals as the tick spacing needs
/// ("0.25", "1e-05", "1000").
std::string format_tick(double value, const std::vector<double>& ticks);

}  // namespace focus::pictures
