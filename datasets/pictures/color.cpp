#include "datasets/pictures/color.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace focus::pictures {

Color mix(Color a, Color b, double t) {
  auto channel = [t](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>(std::lround(x + (static_cast<double>(y) - x) * t));
  };
  return {channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b)};
}

Color palette(int64_t i) {
  static constexpr std::array<Color, 10> kTab10 = {{{31, 119, 180},
                                                    {255, 127, 14},
                                                    {44, 160, 44},
                                                    {214, 39, 40},
                                                    {148, 103, 189},
                                                    {140, 86, 75},
                                                    {227, 119, 194},
                                                    {127, 127, 127},
                                                    {188, 189, 34},
                                                    {23, 190, 207}}};
  return kTab10[static_cast<size_t>(((i % 10) + 10) % 10)];
}

Color viridis(double t) {
  // Nine samples of matplotlib's viridis, interpolated linearly: close enough to
  // the 256-entry table for pictures, and its brightness still rises monotonically.
  static constexpr std::array<Color, 9> kStops = {{{68, 1, 84},
                                                   {71, 45, 123},
                                                   {59, 82, 139},
                                                   {44, 114, 142},
                                                   {33, 145, 140},
                                                   {40, 174, 128},
                                                   {94, 201, 98},
                                                   {173, 220, 48},
                                                   {253, 231, 37}}};
  if (!(t >= 0.0)) t = 0.0;  // also NaN
  t = std::min(t, 1.0) * (kStops.size() - 1);
  const size_t i = std::min(static_cast<size_t>(t), kStops.size() - 2);
  return mix(kStops[i], kStops[i + 1], t - static_cast<double>(i));
}

}  // namespace focus::pictures
