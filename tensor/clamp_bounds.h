#pragma once
// Scalar rules that clamp and pow_scalar follow on every device (tensor/cpu/unary.cpp,
// tensor/cuda/unary.cu), kept in one place so the two backends cannot drift apart.
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

namespace focus {

/// True for a finite double with no fractional part (an exponent or bound an integer type can hold exactly).
inline bool is_integral_value(double v) { return std::isfinite(v) && v == std::floor(v); }

/// A clamp bound as T: absent means unbounded; integer types saturate instead of overflowing.
/// Only integral bounds reach integer T (clamp() sends int tensors with fractional bounds to float32).
template <typename T>
T bound_as(std::optional<double> bound, bool lower) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!bound) return lower ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    return static_cast<T>(*bound);
  } else {
    constexpr double limit = 9.2233720368547758e18;  // 2^63: the first double outside int64
    if (!bound) return lower ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    if (*bound >= limit) return std::numeric_limits<T>::max();
    if (*bound < -limit) return std::numeric_limits<T>::lowest();
    return static_cast<T>(*bound);
  }
}

}  // namespace focus
