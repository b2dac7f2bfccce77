#pragma once
// Row helpers shared by the reduction and softmax kernels: sums and maxima of a
// contiguous row in interleaved lanes, and an exp that vectorises. The compiler may not reorder one running
// sum (floating addition is not associative), but it does vectorise independent
// lanes; and each lane's rounding error grows with n / kLanes instead of n.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tensor/cpu/vec_math.h"

namespace focus::cpu::inline FOCUS_CPU_VARIANT {  // one copy per kernel build: see tensor/kernels.h

inline constexpr int64_t kLanes = 16;

/// Σ f(p[i]) for i < n, accumulated in Acc (double for float rows: see reduce.cpp).
template <typename Acc, typename T, typename F>
Acc lane_sum(const T* p, int64_t n, F f) {
  Acc lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) lanes[k] += f(p[i + k]);
  for (; i < n; ++i) lanes[0] += f(p[i]);
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t k = 0; k < width; ++k) lanes[k] += lanes[k + width];
  return lanes[0];
}

/// True when a should replace b as the running max (or min). NaN wins over any
/// number, as in torch.max: a NaN in the range makes the result NaN.
template <bool IsMax, typename T>
inline bool beats(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    return (IsMax ? a > b : a < b) | ((a != a) & (b == b));  // bitwise: keeps the loop branch-free
  else
    return IsMax ? a > b : a < b;
}

/// The value every max (min) starts from: -inf (+inf), or the lowest (highest) integer.
template <bool IsMax, typename T>
constexpr T extremum_identity() {
  using limits = std::numeric_limits<T>;
  if constexpr (limits::has_infinity)
    return IsMax ? -limits::infinity() : limits::infinity();
  else
    return IsMax ? limits::lowest() : limits::max();
}

/// max (IsMax) or min of p[0..n), NaN-propagating; the identity for n == 0.
template <bool IsMax, typename T>
T lane_extremum(const T* p, int64_t n) {
  // The hot loop keeps NaN out of the comparison (a plain compare-and-select
  // vectorises, the NaN-aware one does not) and flags NaNs in integer lanes of the
  // same width instead.
  using Flag = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  constexpr int64_t kBlock = 2 * kLanes;
  T lanes[kBlock];
  Flag nan[kBlock] = {};
  std::fill(lanes, lanes + kBlock, extremum_identity<IsMax, T>());
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock)
    for (int64_t k = 0; k < kBlock; ++k) {
      T v = p[i + k];
      lanes[k] = (IsMax ? v > lanes[k] : v < lanes[k]) ? v : lanes[k];
      if constexpr (std::is_floating_point_v<T>) nan[k] |= static_cast<Flag>(v != v);
    }
  T best = extremum_identity<IsMax, T>();
  Flag any_nan = 0;
  for (int64_t k = 0; k < kBlock; ++k) {
    best = (IsMax ? lanes[k] > best : lanes[k] < best) ? lanes[k] : best;
    any_nan |= nan[k];
  }
  for (; i < n; ++i) best = beats<IsMax>(p[i], best) ? p[i] : best;
  if constexpr (std::is_floating_point_v<T>)
    if (any_nan) return std::numeric_limits<T>::quiet_NaN();
  return best;
}

/// e^x: the vectorisable exp_f32 for float; std::exp for double, which serves
/// gradient checks, where exactness matters more than speed.
template <typename T>
FOCUS_VEC_INLINE T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return exp_f32(x);
  else
    return std::exp(x);
}

}  // namespace focus::cpu::FOCUS_CPU_VARIANT
