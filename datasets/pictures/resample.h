#pragma once
// Bilinear resampling taps, shared by Image::resize and heat-map overlays.
#include <algorithm>

namespace focus::pictures {

// Bilinear sample of a w×h grid of values at pixel centres (the align_corners =
// false convention): output pixel x covers source coordinate (x + 0.5) * w / W - 0.5.
struct BilinearTap {
  int i0, i1;
  double t;
};
inline BilinearTap bilinear_tap(int out, int out_size, int in_size) {
  double source = (out + 0.5) * in_size / out_size - 0.5;
  source = std::clamp(source, 0.0, static_cast<double>(in_size - 1));
  const int i0 = static_cast<int>(source);
  return {i0, std::min(i0 + 1, in_size - 1), source - i0};
}

}  // namespace focus::pictures
