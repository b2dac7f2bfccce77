#pragma once
// Colours for pictures: 8-bit RGB, a palette for series and classes, and the viridis map.
#include <cstdint>

namespace focus::pictures {

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

/// The colour a fraction t of the way from a to b (t in [0, 1]), channel by channel.
Color mix(Color a, Color b, double t);

}  // namespace focus::pictures
