// Elementwise unary kernels, and the fused backward passes of the unary ops.
//
// Dtypes follow PyTorch: float math (exp, log, sigmoid, ...) keeps a float
// input's dtype and turns int64/bool input into float32; sign-preserving
// arithmetic (neg, abs, sign, square, relu, clamp) also runs on int64, with
// bool counted as int64 as in the binary kernels.
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <type_traits>

#include "tensor/clamp_bounds.h"
#include "tensor/cpu/loops.h"
#include "tensor/cpu/vec_math.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

Tensor empty_on(const Tensor& like, DType dtype) {
  return empty_for_overwrite(like.shape(), TensorOptions(dtype).with_device(like.device()));
}

/// Checks the input of a unary op; returns the device it runs on.
Device input_device(const Tensor& x, const char* op) {
  check_defined(x, op);
  return x.device();
}

/// out = f(x) for ops defined on real numbers: f gets and returns the float type T.
template <typename F>
Tensor float_unary(const Tensor& x, const char* op, F f) {
  if (is_floating(x.dtype())) {
    Tensor out = empty_on(x, x.dtype());
    cpu::dispatch_floating(x.dtype(), op, [&]<typename T>() { cpu::map<T, T>(out, f, x); });
    return out;
  }
  // Integers and bools convert on the fly: no float32 copy of the input.
  Tensor out = empty_on(x, kFloat32);
  cpu::dispatch_all(x.dtype(), op, [&]<typename S>() {
    if constexpr (!std::is_floating_point_v<S>)
      cpu::map<float, S>(out, [&](S v) { return f(static_cast<float>(v)); }, x);
  });
  return out;
}

/// out = f(x) for ops that also make sense on integers: int64 stays int64, bool becomes int64.
template <typename F>
Tensor arithmetic_unary(const Tensor& x, const char* op, F f) {
  if (x.dtype() == kBool) {
    Tensor out = empty_on(x, kInt64);
    cpu::map<int64_t, bool>(out, [&](bool v) { return f(static_cast<int64_t>(v)); }, x);
    return out;
  }
  Tensor out = empty_on(x, x.dtype());
  cpu::dispatch_all(x.dtype(), op, [&]<typename T>() {
    if constexpr (!std::is_same_v<T, bool>) cpu::map<T, T>(out, f, x);
  });
  return out;
}

/// `t` in `dtype`, converted only when it differs (saved operands normally match dy already).
Tensor as_dtype(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : contiguous_copy(t, dtype); }

/// Checks that a saved operand broadcasts to dy's shape, which is the shape of the result.
void check_backward_operand(const Tensor& dy, const Tensor& x, const char* op) {
  bool fits = x.dim() <= dy.dim();
  for (int64_t i = 1; fits && i <= x.dim(); ++i) {
    int64_t n = x.shape()[x.dim() - i];
    fits = n == 1 || n == dy.shape()[dy.dim() - i];
  }
  if (!fits)
    throw std::invalid_argument(fmt::format("{}: operand of shape {} does not broadcast to the gradient's shape {}",
                                            op, shape_str(x.shape()), shape_str(dy.shape())));
}

/// Checks the gradient and the saved operands of a fused backward; returns the device it runs on.
template <typename... Operands>
Device backward_device(const char* op, const Tensor& dy, const Operands&... operands) {
  check_defined(dy, op);
  (check_defined(operands, op), ...);
  Device device = common_device(op, dy, operands...);
  (check_backward_operand(dy, operands, op), ...);
  return device;
}

/// dx = f(dy, x) over dy's shape and float dtype, x broadcast to it (checked by backward_device).
template <typename F>
Tensor backward_map(const char* op, const Tensor& dy, const Tensor& x, F f) {
  Tensor cx = as_dtype(x, dy.dtype());
  Tensor dx = empty_on(dy, dy.dtype());
  cpu::dispatch_floating(dy.dtype(), op, [&]<typename T>() { cpu::map<T, T, T>(dx, f, dy, cx); });
  return dx;
}

/// da = f(dy, a, b) over dy's shape and float dtype, a and b broadcast to it.
template <typename F>
Tensor backward_map(const char* op, const Tensor& dy, const Tensor& a, const Tensor& b, F f) {
  Tensor ca = as_dtype(a, dy.dtype()), cb = as_dtype(b, dy.dtype());
  Tensor da = empty_on(dy, dy.dtype());
  cpu::dispatch_floating(dy.dtype(), op, [&]<typename T>() { cpu::map<T, T, T, T>(da, f, dy, ca, cb); });
  return da;
}

#ifdef __AVX512F__
/// out = f(a) or f(a, b) for contiguous float32 operands of one shape, 16 floats at a time (the last
/// vector masked), for kernels written with vector math (cpu::normal_at_f32x16). Nullopt for any
/// other operands: the caller then takes the general map.
template <typename F, typename... Operands>
std::optional<Tensor> map_f32x16(F f, const Tensor& a, const Operands&... rest) {
  if (a.dtype() != kFloat32 || !a.is_contiguous()) return std::nullopt;
  if (!((rest.dtype() == kFloat32 && rest.is_contiguous() && rest.shape() == a.shape()) && ...)) return std::nullopt;
  Tensor out = empty_on(a, kFloat32);
  float* o = out.data<float>();
  const std::array<const float*, 1 + sizeof...(Operands)> in{a.data<float>(), rest.template data<float>()...};
  const int64_t n = a.numel();
  parallel_for(0, (n + 15) / 16, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t v = begin; v < end; ++v) {
      const int64_t i = 16 * v;
      const __mmask16 lanes = i + 16 <= n ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
      auto load = [&](const float* p) { return _mm512_maskz_loadu_ps(lanes, p + i); };
      __m512 result;
      if constexpr (sizeof...(Operands) == 0)
        result = f(load(in[0]));
      else
        result = f(load(in[0]), load(in[1]));
      _mm512_mask_storeu_ps(o + i, lanes, result);
    }
  });
  return out;
}
#endif

/// Φ(x), the standard normal CDF, as erfc(-x / √2) / 2 rather than (1 + erf(x / √2)) / 2:
/// for x << 0 the latter cancels (1 - 0.9973...) and loses most digits of the small result.
/// (Float64 only: float32 uses cpu::normal_at_f32.)
template <typename T>
T normal_cdf(T x) {
  return T(0.5) * std::erfc(-x * T(std::numbers::sqrt2 / 2));
}

// Integer arithmetic that can overflow runs in uint64_t: it wraps modulo 2^64 like PyTorch's int64
// tensors, where int64_t arithmetic would be undefined behaviour.
int64_t wrapping_neg(int64_t v) { return static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(v)); }
int64_t wrapping_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

/// x^n for a non-negative integer n, by repeated squaring (exact unless it wraps).
int64_t integer_power(int64_t base, uint64_t n) {
  int64_t result = 1;
  while (n) {
    if (n & 1) result = wrapping_mul(result, base);
    n >>= 1;
    if (n) base = wrapping_mul(base, base);
  }
  return result;
}

}  // namespace

// ---- arithmetic --------------------------------------------------------------------------

Tensor neg(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "neg"), neg(x));
  return arithmetic_unary(x, "neg", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return -v;
    else return wrapping_neg(v);
  });
}

Tensor abs(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "abs"), abs(x));
  return arithmetic_unary(x, "abs", [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) return std::abs(v);  // also clears the sign of -0.0
    else return v < 0 ? wrapping_neg(v) : v;  // |INT64_MIN| wraps to itself, as in PyTorch
  });
}

Tensor sign(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "sign"), sign(x));
  return arithmetic_unary(x, "sign", [](auto v) FOCUS_LAMBDA_INLINE {
    using T = decltype(v);
    const T s = static_cast<T>((T(0) < v) - (v < T(0)));
    if constexpr (std::is_floating_point_v<T>)
      return cpu::blend(v != v, v, s);  // NaN has no sign: keep it visible
    else
      return s;
  });
}

Tensor square(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "square"), square(x));
  return arithmetic_unary(x, "square", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return v * v;
    else return wrapping_mul(v, v);
  });
}

Tensor relu(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "relu"), relu(x));
  // `v < 0 ? 0 : v` rather than `v > 0 ? v : 0` so NaN passes through, as in PyTorch.
  return arithmetic_unary(x, "relu", [](auto v) {
    using T = decltype(v);
    return v < T(0) ? T(0) : v;
  });
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  if (!min && !max) throw std::invalid_argument("clamp: at least one of min and max must be given");
  FOCUS_DISPATCH(input_device(x, "clamp"), clamp(x, min, max));
  bool fractional_bound = (min && !is_integral_value(*min)) || (max && !is_integral_value(*max));
  if (!is_floating(x.dtype()) && fractional_bound)  // clamp(int, 0.5) is a float result, as in PyTorch
    return clamp(contiguous_copy(x, kFloat32), min, max);
  // max(min(...)) order: when min > max every element becomes max (PyTorch's rule); NaN stays NaN.
  return arithmetic_unary(x, "clamp", [&](auto v) {
    using T = decltype(v);
    const T lo = bound_as<T>(min, true), hi = bound_as<T>(max, false);
    T r = v < lo ? lo : v;
    return r > hi ? hi : r;
  });
}

// ---- float math -----------------------------------------------------------------------------

Tensor exp(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "exp"), exp(x));
  return float_unary(x, "exp", [](auto v) FOCUS_LAMBDA_INLINE {
    if constexpr (std::is_same_v<decltype(v), float>) return cpu::exp_f32(v);  // vectorised, see vec_math.h
    else return std::exp(v);
  });
}
Tensor log(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "log"), log(x));
  return float_unary(x, "log", [](auto v) { return std::log(v); });
}
Tensor log1p(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "log1p"), log1p(x));
  return float_unary(x, "log1p", [](auto v) { return std::log1p(v); });
}
Tensor sqrt(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "sqrt"), sqrt(x));
  return float_unary(x, "sqrt", [](auto v) { return std::sqrt(v); });
}
Tensor rsqrt(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "rsqrt"), rsqrt(x));
  return float_unary(x, "rsqrt", [](auto v) { return decltype(v)(1) / std::sqrt(v); });
}
Tensor sin(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "sin"), sin(x));
  return float_unary(x, "sin", [](auto v) { return std::sin(v); });
}
Tensor cos(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "cos"), cos(x));
  return float_unary(x, "cos", [](auto v) { return std::cos(v); });
}
Tensor tanh(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "tanh"), tanh(x));
  return float_unary(x, "tanh", [](auto v) FOCUS_LAMBDA_INLINE {
    if constexpr (std::is_same_v<decltype(v), float>) return cpu::tanh_f32(v);
    else return std::tanh(v);
  });
}
Tensor erf(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "erf"), erf(x));
  return float_unary(x, "erf", [](auto v) { return std::erf(v); });
}
Tensor reciprocal(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "reciprocal"), reciprocal(x));
  return float_unary(x, "reciprocal", [](auto v) { return decltype(v)(1) / v; });
}

Tensor sigmoid(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "sigmoid"), sigmoid(x));
  // exp of a non-positive number only: 1 / (1 + e^-x) would overflow e^-x for x << 0
  // (harmlessly, to 0) but e^x / (1 + e^x) would give inf/inf = NaN for x >> 0.
  return float_unary(x, "sigmoid", [](auto v) FOCUS_LAMBDA_INLINE {
    using T = decltype(v);
    if constexpr (std::is_same_v<T, float>) {
      return cpu::sigmoid_f32(v);  // the same two forms, branch-free
    } else {
      if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
      T e = std::exp(v);
      return e / (T(1) + e);
    }
  });
}

Tensor gelu(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "gelu"), gelu(x));
#ifdef __AVX512F__
  if (auto out = map_f32x16([](__m512 v) { return _mm512_mul_ps(v, cpu::normal_at_f32x16(v).cdf); }, x))
    return *out;
#endif
  // The exact x Φ(x), not the tanh approximation.
  return float_unary(x, "gelu", [](auto v) FOCUS_LAMBDA_INLINE {
    if constexpr (std::is_same_v<decltype(v), float>) return v * cpu::normal_at_f32(v).cdf;  // vectorised
    else return v * normal_cdf(v);
  });
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  FOCUS_DISPATCH(input_device(x, "leaky_relu"), leaky_relu(x, negative_slope));
  return float_unary(x, "leaky_relu", [negative_slope](auto v) FOCUS_LAMBDA_INLINE {
    using T = decltype(v);
    return cpu::blend(v > T(0), v, static_cast<T>(negative_slope) * v);
  });
}

Tensor affine(const Tensor& x, double scale, double shift) {
  FOCUS_DISPATCH(input_device(x, "affine"), affine(x, scale, shift));
  return float_unary(x, "affine", [scale, shift](auto v) {
    using T = decltype(v);
    return v * static_cast<T>(scale) + static_cast<T>(shift);
  });
}

Tensor pow_scalar(const Tensor& x, double exponent) {
  FOCUS_DISPATCH(input_device(x, "pow"), pow_scalar(x, exponent));
  if (!is_floating(x.dtype())) {
    // Integer base to a non-negative integer power stays integral (int64 overflow wraps, as in PyTorch);
    // any other exponent needs floats.
    if (exponent >= 0 && exponent < 1e18 && is_integral_value(exponent)) {
      uint64_t n = static_cast<uint64_t>(exponent);
      Tensor base = as_dtype(x, kInt64), out = empty_on(x, kInt64);
      cpu::map<int64_t, int64_t>(out, [n](int64_t v) { return integer_power(v, n); }, base);
      return out;
    }
    return pow_scalar(contiguous_copy(x, kFloat32), exponent);
  }
  // Common exponents get exact, faster forms instead of std::pow.
  if (exponent == 1) return contiguous_copy(x);
  if (exponent == 2) return square(x);
  if (exponent == 0.5) return sqrt(x);
  if (exponent == -0.5) return rsqrt(x);
  if (exponent == -1) return reciprocal(x);
  if (exponent == 3) return float_unary(x, "pow", [](auto v) { return v * v * v; });
  return float_unary(x, "pow", [exponent](auto v) { return std::pow(v, static_cast<decltype(v)>(exponent)); });
}

Tensor logical_not(const Tensor& x) {
  FOCUS_DISPATCH(input_device(x, "logical_not"), logical_not(x));
  Tensor out = empty_on(x, kBool);
  cpu::dispatch_all(x.dtype(), "logical_not", [&]<typename S>() {
    using Load = std::conditional_t<std::is_same_v<S, bool>, uint8_t, S>;  // bool bytes as 0/1: vectorisable
    cpu::map<bool, Load>(out, [](Load v) { return v == Load(0); }, x);
  });
  return out;
}

// ---- fused backward passes --------------------------------------------------------------------

Tensor tanh_backward(const Tensor& dy, const Tensor& y) {
  FOCUS_DISPATCH(backward_device("tanh_backward", dy, y), tanh_backward(dy, y));
  // d tanh(x)/dx = 1 - tanh(x)²
  return backward_map("tanh_backward", dy, y, [](auto g, auto t) { return g * (decltype(g)(1) - t * t); });
}

Tensor sigmoid_backward(const Tensor& dy, const Tensor& y) {
  FOCUS_DISPATCH(backward_device("sigmoid_backward", dy, y), sigmoid_backward(dy, y));
  // d σ(x)/dx = σ(x) (1 - σ(x))
  return backward_map("sigmoid_backward", dy, y, [](auto g, auto s) { return g * s * (decltype(g)(1) - s); });
}

Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double negative_slope) {
  FOCUS_DISPATCH(backward_device(negative_slope == 0 ? "relu_backward" : "leaky_relu_backward", dy, x),
                      leaky_relu_backward(dy, x, negative_slope));
  if (negative_slope == 0)  // relu: a plain select, and an inf in dy at x <= 0 still gives 0, not 0 * inf
    return backward_map("relu_backward", dy, x, [](auto g, auto v) {
      using T = decltype(g);
      return v > T(0) ? g : T(0);
    });
  return backward_map("leaky_relu_backward", dy, x, [negative_slope](auto g, auto v) FOCUS_LAMBDA_INLINE {
    using T = decltype(g);
    return cpu::blend(v > T(0), g, static_cast<T>(negative_slope) * g);
  });
}

Tensor gelu_backward(const Tensor& dy, const Tensor& x) {
  FOCUS_DISPATCH(backward_device("gelu_backward", dy, x), gelu_backward(dy, x));
#ifdef __AVX512F__
  auto slope = [](__m512 g, __m512 v) {
    const cpu::NormalAt16 normal = cpu::normal_at_f32x16(v);
    return _mm512_mul_ps(g, _mm512_fmadd_ps(v, normal.pdf, normal.cdf));
  };
  if (auto dx = map_f32x16(slope, dy, x)) return *dx;
#endif
  // d/dx x Φ(x) = Φ(x) + x φ(x), with φ(x) = e^(-x²/2) / √(2π)
  return backward_map("gelu_backward", dy, x, [](auto g, auto v) FOCUS_LAMBDA_INLINE {
    using T = decltype(g);
    if constexpr (std::is_same_v<T, float>) {
      const cpu::NormalAt normal = cpu::normal_at_f32(v);
      return g * (normal.cdf + v * normal.pdf);
    } else {
      constexpr T inv_sqrt_2pi = T(std::numbers::inv_sqrtpi * std::numbers::sqrt2 / 2);
      T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * v * v);
      return g * (normal_cdf(v) + v * pdf);
    }
  });
}

Tensor clamp_backward(const Tensor& dy, const Tensor& x, std::optional<double> min, std::optional<double> max) {
  FOCUS_DISPATCH(backward_device("clamp_backward", dy, x), clamp_backward(dy, x, min, max));
  // The gradient passes where x was inside [min, max] (bounds included, as in PyTorch).
  return backward_map("clamp_backward", dy, x, [min, max](auto g, auto v) {
    using T = decltype(g);
    const T lo = bound_as<T>(min, true), hi = bound_as<T>(max, false);
    return v >= lo && v <= hi ? g : T(0);
  });
}

Tensor pow_scalar_backward(const Tensor& dy, const Tensor& x, double exponent) {
  FOCUS_DISPATCH(backward_device("pow_backward", dy, x), pow_scalar_backward(dy, x, exponent));
  if (exponent == 0) return zeros(dy.shape(), TensorOptions(dy.dtype()).with_device(dy.device()));
  if (exponent == 1) return backward_map("pow_backward", dy, x, [](auto g, auto) { return g; });
  if (exponent == 2) return backward_map("pow_backward", dy, x, [](auto g, auto v) { return decltype(g)(2) * g * v; });
  return backward_map("pow_backward", dy, x, [exponent](auto g, auto v) {
    using T = decltype(g);
    return g * static_cast<T>(exponent) * std::pow(v, static_cast<T>(exponent - 1));
  });
}

Tensor maximum_backward(const Tensor& dy, const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(backward_device("maximum_backward", dy, a, b), maximum_backward(dy, a, b));
  // Ties split the gradient, so maximum(x, x) still passes all of dy to x.
  return backward_map("maximum_backward", dy, a, b, [](auto g, auto va, auto vb) FOCUS_LAMBDA_INLINE {
    using T = decltype(g);
    return cpu::blend(va > vb, g, cpu::blend(va == vb, T(0.5) * g, T(0)));
  });
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
