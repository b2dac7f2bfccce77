// Elementwise unary kernels and the fused backward passes of the unary ops, on the GPU.
// Same dtype rules as tensor/cpu/unary.cpp: float math keeps a float input's dtype and
// turns int64/bool into float32; neg, abs, sign, square, relu and clamp also run on
// int64 (bool counted as int64), integer overflow wrapping as in PyTorch.
//
// Integer and bool inputs of float math are converted to float32 by one copy first (the
// same values the CPU converts on the fly), so each op is instantiated for float and
// double only. The math is CUDA's libm (expf, erfcf, tanhf, ...: a few ulp), never the
// fast intrinsics.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include "tensor/clamp_bounds.h"
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

// The tensor ops of this namespace (focus::cuda::exp, ...) hide libm's names, so the
// functors call ::exp etc.; CUDA overloads those for float (::exp(float) is expf).

// ---- host helpers ------------------------------------------------------------------------

Tensor empty_on(const Tensor& like, DType dtype) {
  return empty(like.shape(), TensorOptions(dtype).with_device(like.device()));
}

Tensor as_dtype(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : kernels::contiguous_copy(t, dtype); }

// ---- device helpers ---------------------------------------------------------------------------

// Integer arithmetic that can overflow runs in uint64_t: it wraps modulo 2^64 like PyTorch's
// int64 tensors, where int64_t arithmetic would be undefined behaviour.
__device__ inline int64_t wrapping_neg(int64_t v) { return static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(v)); }
__device__ inline int64_t wrapping_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

/// Φ(x), the standard normal CDF, as erfc(-x/√2)/2: (1 + erf(x/√2))/2 would cancel for x << 0.
template <typename T>
__device__ T normal_cdf(T x) {
  return T(0.5) * ::erfc(-x * T(0.70710678118654752440));
}

/// φ(x) = e^(-x²/2) / √(2π). In float, x² is split into its rounded value and rounding
/// error (an FMA) so large |x| keep full relative precision, as the CPU's vectorised form does.
template <typename T>
__device__ T normal_pdf(T x) {
  constexpr T inv_sqrt_2pi = T(0.39894228040143267794);
  if constexpr (std::is_same_v<T, float>) {
    const float square = x * x;
    const float square_error = ::fmaf(x, x, -square);  // x·x − square, exactly
    return inv_sqrt_2pi * ::expf(-0.5f * square) * (1.0f - 0.5f * square_error);
  } else {
    return inv_sqrt_2pi * ::exp(T(-0.5) * x * x);
  }
}

// ---- arithmetic functors (T: float, double or int64) ---------------------------------------------

template <typename T>
struct Neg {
  __device__ T operator()(T v) const {
    if constexpr (std::is_floating_point_v<T>) return -v;
    else return wrapping_neg(v);
  }
};
template <typename T>
struct Abs {
  __device__ T operator()(T v) const {
    if constexpr (std::is_floating_point_v<T>) return ::fabs(v);  // also clears the sign of -0.0
    else return v < 0 ? wrapping_neg(v) : v;                     // |INT64_MIN| wraps to itself
  }
};
template <typename T>
struct Sign {
  __device__ T operator()(T v) const {
    const T s = static_cast<T>((T(0) < v) - (v < T(0)));
    if constexpr (std::is_floating_point_v<T>) return v != v ? v : s;  // NaN has no sign: keep it visible
    else return s;
  }
};
template <typename T>
struct Square {
  __device__ T operator()(T v) const {
    if constexpr (std::is_floating_point_v<T>) return v * v;
    else return wrapping_mul(v, v);
  }
};
template <typename T>
struct Relu {
  // `v < 0 ? 0 : v` so NaN passes through, as in PyTorch.
  __device__ T operator()(T v) const { return v < T(0) ? T(0) : v; }
};
template <typename T>
struct Clamp {
  T lo, hi;
  Clamp(std::optional<double> min, std::optional<double> max) : lo(bound_as<T>(min, true)), hi(bound_as<T>(max, false)) {}
  // max(min(...)) order: with min > max every element becomes max (PyTorch's rule); NaN stays NaN.
  __device__ T operator()(T v) const {
    T r = v < lo ? lo : v;
    return r > hi ? hi : r;
  }
};
/// v^n for int64 v and a non-negative integer n, by repeated squaring (wraps past 2^63).
struct IntegerPower {
  uint64_t n;
  __device__ int64_t operator()(int64_t base) const {
    int64_t result = 1;
    for (uint64_t k = n; k; k >>= 1) {
      if (k & 1) result = wrapping_mul(result, base);
      if (k > 1) base = wrapping_mul(base, base);
    }
    return result;
  }
};
struct LogicalNot {
  template <typename T>
  __device__ bool operator()(T v) const { return v == T(0); }
};

// ---- float functors (T: float or double) ---------------------------------------------------------

template <typename T>
struct Exp {
  __device__ T operator()(T v) const { return ::exp(v); }
};
template <typename T>
struct Log {
  __device__ T operator()(T v) const { return ::log(v); }
};
template <typename T>
struct Log1p {
  __device__ T operator()(T v) const { return ::log1p(v); }
};
template <typename T>
struct Sqrt {
  __device__ T operator()(T v) const { return ::sqrt(v); }
};
template <typename T>
struct Rsqrt {
  // 1 / sqrt (both correctly rounded), not rsqrtf's approximation: the CPU's exact formula.
  __device__ T operator()(T v) const { return T(1) / ::sqrt(v); }
};
template <typename T>
struct Sin {
  __device__ T operator()(T v) const { return ::sin(v); }
};
template <typename T>
struct Cos {
  __device__ T operator()(T v) const { return ::cos(v); }
};
template <typename T>
struct Tanh {
  __device__ T operator()(T v) const { return ::tanh(v); }
};
template <typename T>
struct Erf {
  __device__ T operator()(T v) const { return ::erf(v); }
};
template <typename T>
struct Reciprocal {
  __device__ T operator()(T v) const { return T(1) / v; }
};
template <typename T>
struct Sigmoid {
  // exp of a non-positive number only: e^x / (1 + e^x) would give inf/inf = NaN for x >> 0.
  __device__ T operator()(T v) const {
    if (v >= T(0)) return T(1) / (T(1) + ::exp(-v));
    const T e = ::exp(v);
    return e / (T(1) + e);
  }
};
template <typename T>
struct Gelu {
  // The exact x Φ(x), not the tanh approximation.
  __device__ T operator()(T v) const { return v * normal_cdf(v); }
};
template <typename T>
struct Cube {
  __device__ T operator()(T v) const { return v * v * v; }
};
template <typename T>
struct LeakyRelu {
  T slope;
  explicit LeakyRelu(double negative_slope) : slope(static_cast<T>(negative_slope)) {}
  __device__ T operator()(T v) const { return v > T(0) ? v : slope * v; }
};
template <typename T>
struct Affine {
  T scale, shift;
  Affine(double scale_, double shift_) : scale(static_cast<T>(scale_)), shift(static_cast<T>(shift_)) {}
  __device__ T operator()(T v) const { return v * scale + shift; }
};
template <typename T>
struct PowScalar {
  T exponent;
  explicit PowScalar(double exponent_) : exponent(static_cast<T>(exponent_)) {}
  __device__ T operator()(T v) const { return ::pow(v, exponent); }
};

// ---- backward functors: (dy, saved operand) → dx, T float or double ------------------------------

template <typename T>
struct TanhBackward {
  // d tanh(x)/dx = 1 - tanh(x)²
  __device__ T operator()(T g, T t) const { return g * (T(1) - t * t); }
};
template <typename T>
struct SigmoidBackward {
  // d σ(x)/dx = σ(x) (1 - σ(x))
  __device__ T operator()(T g, T s) const { return g * s * (T(1) - s); }
};
template <typename T>
struct ReluBackward {
  // A select, not a product: an inf in dy at x <= 0 still gives 0, not 0 * inf.
  __device__ T operator()(T g, T v) const { return v > T(0) ? g : T(0); }
};
template <typename T>
struct LeakyReluBackward {
  T slope;
  explicit LeakyReluBackward(double negative_slope) : slope(static_cast<T>(negative_slope)) {}
  __device__ T operator()(T g, T v) const { return v > T(0) ? g : slope * g; }
};
template <typename T>
struct GeluBackward {
  // d/dx x Φ(x) = Φ(x) + x φ(x)
  __device__ T operator()(T g, T v) const { return g * (normal_cdf(v) + v * normal_pdf(v)); }
};
template <typename T>
struct ClampBackward {
  T lo, hi;
  ClampBackward(std::optional<double> min, std::optional<double> max)
      : lo(bound_as<T>(min, true)), hi(bound_as<T>(max, false)) {}
  // The gradient passes where x was inside [min, max], bounds included (PyTorch's rule).
  __device__ T operator()(T g, T v) const { return v >= lo && v <= hi ? g : T(0); }
};
template <typename T>
struct SquareBackward {
  __device__ T operator()(T g, T v) const { return T(2) * g * v; }
};
template <typename T>
struct PowScalarBackward {
  T exponent, exponent_minus_one;
  explicit PowScalarBackward(double p) : exponent(static_cast<T>(p)), exponent_minus_one(static_cast<T>(p - 1)) {}
  // For p = 1 this is g * 1 * x^0 = g exactly (pow(x, 0) is 1 for every x, NaN included).
  __device__ T operator()(T g, T v) const { return g * exponent * ::pow(v, exponent_minus_one); }
};
template <typename T>
struct MaximumBackward {
  // Ties split the gradient, so maximum(x, x) still passes all of dy to x.
  __device__ T operator()(T g, T a, T b) const { return a > b ? g : (a == b ? T(0.5) * g : T(0)); }
};

// ---- drivers -------------------------------------------------------------------------------------

/// out = Op<T>(args...)(x) for float math; int64/bool inputs are computed in float32.
template <template <typename> class Op, typename... Args>
Tensor float_unary(const Tensor& x, const char* op, Args... args) {
  Tensor input = is_floating(x.dtype()) ? x : kernels::contiguous_copy(x, kFloat32);
  Tensor out = empty_on(input, input.dtype());
  dispatch_floating(input.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, T>(out, Op<T>(args...), input);
  });
  return out;
}

/// out = Op<T>(args...)(x) for ops that also make sense on integers: int64 stays int64, bool becomes int64.
template <template <typename> class Op, typename... Args>
Tensor arithmetic_unary(const Tensor& x, const char* op, Args... args) {
  Tensor input = as_dtype(x, x.dtype() == kBool ? kInt64 : x.dtype());
  Tensor out = empty_on(input, input.dtype());
  dispatch_all(input.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) map<T, T>(out, Op<T>(args...), input);
  });
  return out;
}

/// dx = Op<T>(args...)(dy, x) over dy's shape and float dtype, x (checked by the caller to
/// broadcast to dy) converted to dy's dtype.
template <template <typename> class Op, typename... Args>
Tensor backward_map(const char* op, const Tensor& dy, const Tensor& x, Args... args) {
  Tensor cx = as_dtype(x, dy.dtype());
  Tensor dx = empty_on(dy, dy.dtype());
  dispatch_floating(dy.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, T, T>(dx, Op<T>(args...), dy, cx);
  });
  return dx;
}

}  // namespace

// ---- arithmetic ----------------------------------------------------------------------------------

Tensor neg(const Tensor& x) { return arithmetic_unary<Neg>(x, "neg"); }
Tensor abs(const Tensor& x) { return arithmetic_unary<Abs>(x, "abs"); }
Tensor sign(const Tensor& x) { return arithmetic_unary<Sign>(x, "sign"); }
Tensor square(const Tensor& x) { return arithmetic_unary<Square>(x, "square"); }
Tensor relu(const Tensor& x) { return arithmetic_unary<Relu>(x, "relu"); }

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  bool fractional_bound = (min && !is_integral_value(*min)) || (max && !is_integral_value(*max));
  if (!is_floating(x.dtype()) && fractional_bound)  // clamp(int, 0.5) is a float result, as in PyTorch
    return clamp(kernels::contiguous_copy(x, kFloat32), min, max);
  return arithmetic_unary<Clamp>(x, "clamp", min, max);
}

// ---- float math ------------------------------------------------------------------------------------

Tensor exp(const Tensor& x) { return float_unary<Exp>(x, "exp"); }
Tensor log(const Tensor& x) { return float_unary<Log>(x, "log"); }
Tensor log1p(const Tensor& x) { return float_unary<Log1p>(x, "log1p"); }
Tensor sqrt(const Tensor& x) { return float_unary<Sqrt>(x, "sqrt"); }
Tensor rsqrt(const Tensor& x) { return float_unary<Rsqrt>(x, "rsqrt"); }
Tensor sin(const Tensor& x) { return float_unary<Sin>(x, "sin"); }
Tensor cos(const Tensor& x) { return float_unary<Cos>(x, "cos"); }
Tensor tanh(const Tensor& x) { return float_unary<Tanh>(x, "tanh"); }
Tensor erf(const Tensor& x) { return float_unary<Erf>(x, "erf"); }
Tensor reciprocal(const Tensor& x) { return float_unary<Reciprocal>(x, "reciprocal"); }
Tensor sigmoid(const Tensor& x) { return float_unary<Sigmoid>(x, "sigmoid"); }
Tensor gelu(const Tensor& x) { return float_unary<Gelu>(x, "gelu"); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return float_unary<LeakyRelu>(x, "leaky_relu", negative_slope);
}
Tensor affine(const Tensor& x, double scale, double shift) { return float_unary<Affine>(x, "affine", scale, shift); }

Tensor pow_scalar(const Tensor& x, double exponent) {
  if (!is_floating(x.dtype())) {
    // Integer base to a non-negative integer power stays integral (overflow wraps, as in PyTorch);
    // any other exponent needs floats.
    if (exponent >= 0 && exponent < 1e18 && is_integral_value(exponent)) {
      Tensor base = as_dtype(x, kInt64), out = empty_on(x, kInt64);
      map<int64_t, int64_t>(out, IntegerPower{static_cast<uint64_t>(exponent)}, base);
      return out;
    }
    return pow_scalar(kernels::contiguous_copy(x, kFloat32), exponent);
  }
  // Common exponents get the exact, faster forms the CPU uses too.
  if (exponent == 1) return kernels::contiguous_copy(x);
  if (exponent == 2) return square(x);
  if (exponent == 0.5) return sqrt(x);
  if (exponent == -0.5) return rsqrt(x);
  if (exponent == -1) return reciprocal(x);
  if (exponent == 3) return float_unary<Cube>(x, "pow");
  return float_unary<PowScalar>(x, "pow", exponent);
}

Tensor logical_not(const Tensor& x) {
  Tensor out = empty_on(x, kBool);
  dispatch_all(x.dtype(), "logical_not", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<bool, T>(out, LogicalNot{}, x);
  });
  return out;
}

// ---- fused backward passes (operands checked by tensor/cpu/unary.cpp) -------------------------------

Tensor tanh_backward(const Tensor& dy, const Tensor& y) { return backward_map<TanhBackward>("tanh_backward", dy, y); }
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y) {
  return backward_map<SigmoidBackward>("sigmoid_backward", dy, y);
}
Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double negative_slope) {
  if (negative_slope == 0) return backward_map<ReluBackward>("relu_backward", dy, x);
  return backward_map<LeakyReluBackward>("leaky_relu_backward", dy, x, negative_slope);
}
Tensor gelu_backward(const Tensor& dy, const Tensor& x) { return backward_map<GeluBackward>("gelu_backward", dy, x); }
Tensor clamp_backward(const Tensor& dy, const Tensor& x, std::optional<double> min, std::optional<double> max) {
  return backward_map<ClampBackward>("clamp_backward", dy, x, min, max);
}
Tensor pow_scalar_backward(const Tensor& dy, const Tensor& x, double exponent) {
  if (exponent == 0) return zeros(dy.shape(), TensorOptions(dy.dtype()).with_device(dy.device()));
  if (exponent == 2) return backward_map<SquareBackward>("pow_backward", dy, x);
  return backward_map<PowScalarBackward>("pow_backward", dy, x, exponent);
}

Tensor maximum_backward(const Tensor& dy, const Tensor& a, const Tensor& b) {
  Tensor ca = as_dtype(a, dy.dtype()), cb = as_dtype(b, dy.dtype());
  Tensor da = empty_on(dy, dy.dtype());
  dispatch_floating(dy.dtype(), "maximum_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, T, T, T>(da, MaximumBackward<T>(), dy, ca, cb);
  });
  return da;
}

}  // namespace focus::cuda
