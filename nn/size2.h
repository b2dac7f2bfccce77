#pragma once
// Size2: a (height, width) pair for 2-D layer options, written as one number for
// both or as {h, w}, like PyTorch's ExpandingArray<2>: kernel_size 3 or {3, 5}.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <utility>

namespace focus::nn {

/// (height, width); `Size2 s = 3` means {3, 3}.
struct Size2 {
  int64_t h = 0, w = 0;

  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, as in PyTorch
  Size2(int64_t height, int64_t width) : h(height), w(width) {}

  std::pair<int64_t, int64_t> pair() const { return {h, w}; }
  bool operator==(const Size2&) const = default;
  /// "3" when square, else "(3, 5)": how reprs show it.
  std::string str() const {
    return h == w ? fmt::format("{}", h) : fmt::format("({}, {})", h, w);
  }
};

}  // namespace focus::nn
