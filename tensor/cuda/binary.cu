// Elementwise binary kernels with broadcasting, on the GPU. Same rules as
// tensor/cpu/binary.cpp: arithmetic runs in the promoted dtype with bool counted as
// int64, division of two integer tensors is true (float32) division, comparisons and
// logical ops compare in the promoted dtype and give bool.
//
// An operand of another dtype is converted by one copy first, as on the CPU (rare: a
// float tensor meeting an int64 one), so each op is instantiated once per result dtype
// instead of once per pair of input dtypes.
#include <type_traits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

// ---- the elementwise functions, one functor per op, in the compute dtype T ------------

template <typename T>
struct Add {
  // static_cast: bool + bool is int (only add_ into a bool tensor gets here; it is logical or).
  __device__ T operator()(T x, T y) const { return static_cast<T>(x + y); }
};
template <typename T>
struct Sub {
  __device__ T operator()(T x, T y) const { return x - y; }
};
template <typename T>
struct Mul {
  __device__ T operator()(T x, T y) const { return x * y; }
};
template <typename T>
struct Div {
  __device__ T operator()(T x, T y) const { return x / y; }
};
/// a + alpha * b, with alpha already in T (as the CPU's static_cast<T>(alpha)).
template <typename T>
struct AddScaled {
  T alpha;
  __device__ T operator()(T x, T y) const { return x + alpha * y; }
};
// `x > y ? x : y`, not fmax: NaN in y wins and NaN in x loses, exactly as on the CPU.
template <typename T>
struct Maximum {
  __device__ T operator()(T x, T y) const { return x > y ? x : y; }
};
template <typename T>
struct Minimum {
  __device__ T operator()(T x, T y) const { return x < y ? x : y; }
};

/// base^exponent for int64: the CPU computes it in double, which is exact wherever the
/// result fits in 53 bits; repeated squaring gives the same there without trusting the
/// GPU's pow to round an exact power exactly (242.99999 would truncate to 242). Results past
/// 2^53 are exact (wrapping past 2^63) here, rounded by double on the CPU.
__device__ inline int64_t integer_pow(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    // 1 / base^n truncates to 0 unless |base| = 1; 0^-n is +inf, which the CPU's conversion
    // to int64 turns into INT64_MIN.
    if (base == 1) return 1;
    if (base == -1) return (exponent & 1) ? -1 : 1;
    if (base == 0) return INT64_MIN;
    return 0;
  }
  // uint64_t arithmetic wraps modulo 2^64 where int64_t overflow would be undefined.
  uint64_t result = 1, square = static_cast<uint64_t>(base);
  for (uint64_t n = static_cast<uint64_t>(exponent); n; n >>= 1) {
    if (n & 1) result *= square;
    square *= square;
  }
  return static_cast<int64_t>(result);
}

template <typename T>
struct Pow {
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_same_v<T, int64_t>) return integer_pow(x, y);
    else return ::pow(x, y);  // CUDA overloads ::pow for float (powf): accurate to a few ulp
  }
};

/// The comparisons and logical ops share one functor: the op is a kernel argument, the
/// same for every thread (a uniform branch costs nothing next to the memory traffic), which
/// saves instantiating 8 ops × 4 dtypes.
enum class Comparison { Eq, Ne, Lt, Le, Gt, Ge, And, Or };

struct Compare {
  Comparison op;
  template <typename T>
  __device__ bool operator()(T x, T y) const {
    switch (op) {
      case Comparison::Eq: return x == y;
      case Comparison::Ne: return x != y;
      case Comparison::Lt: return x < y;
      case Comparison::Le: return x <= y;
      case Comparison::Gt: return x > y;
      case Comparison::Ge: return x >= y;
      case Comparison::And: return x && y;  // nonzero is true; NaN is nonzero
      case Comparison::Or: return x || y;
    }
    return false;
  }
};

// ---- drivers -------------------------------------------------------------------------------

Tensor as_dtype(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : kernels::contiguous_copy(t, dtype); }

/// out = Op<T>{args...}(a, b) over the broadcast shape, T the promoted dtype (bool → int64).
/// args (alpha of add_scaled) are converted to T once, here.
template <template <typename> class Op, typename... Args>
Tensor arithmetic(const Tensor& a, const Tensor& b, const char* op, Args... args) {
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  DType dtype = promote_types(a.dtype(), b.dtype());
  if (dtype == kBool) dtype = kInt64;
  Tensor ca = as_dtype(a, dtype), cb = as_dtype(b, dtype);
  Tensor out = empty(shape, TensorOptions(dtype).with_device(a.device()));
  dispatch_all(dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) map<T, T, T>(out, Op<T>{static_cast<T>(args)...}, ca, cb);
  });
  return out;
}

/// out (bool) = a <op> b over the broadcast shape, compared in the promoted dtype.
Tensor comparison(const Tensor& a, const Tensor& b, const char* name, Comparison op) {
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  DType dtype = promote_types(a.dtype(), b.dtype());
  Tensor ca = as_dtype(a, dtype), cb = as_dtype(b, dtype);
  Tensor out = empty(shape, TensorOptions(kBool).with_device(a.device()));
  dispatch_all(dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<bool, T, T>(out, Compare{op}, ca, cb);
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return arithmetic<Add>(a, b, "add"); }
Tensor sub(const Tensor& a, const Tensor& b) { return arithmetic<Sub>(a, b, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return arithmetic<Mul>(a, b, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) {
  if (!is_floating(a.dtype()) && !is_floating(b.dtype()))  // true division, as in PyTorch
    return div(kernels::contiguous_copy(a, kFloat32), b);
  return arithmetic<Div>(a, b, "div");
}
Tensor pow(const Tensor& a, const Tensor& b) { return arithmetic<Pow>(a, b, "pow"); }
Tensor maximum(const Tensor& a, const Tensor& b) { return arithmetic<Maximum>(a, b, "maximum"); }
Tensor minimum(const Tensor& a, const Tensor& b) { return arithmetic<Minimum>(a, b, "minimum"); }
Tensor add_scaled(const Tensor& a, const Tensor& b, double alpha) {
  return arithmetic<AddScaled>(a, b, "add_scaled", alpha);
}

void add_(const Tensor& a, const Tensor& b) {
  // a += b: a is both the output and the first input; each thread reads and writes its own element.
  Tensor cb = as_dtype(b, a.dtype());
  dispatch_all(a.dtype(), "add_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, T, T>(a, Add<T>{}, a, cb);
  });
}

Tensor eq(const Tensor& a, const Tensor& b) { return comparison(a, b, "eq", Comparison::Eq); }
Tensor ne(const Tensor& a, const Tensor& b) { return comparison(a, b, "ne", Comparison::Ne); }
Tensor lt(const Tensor& a, const Tensor& b) { return comparison(a, b, "lt", Comparison::Lt); }
Tensor le(const Tensor& a, const Tensor& b) { return comparison(a, b, "le", Comparison::Le); }
Tensor gt(const Tensor& a, const Tensor& b) { return comparison(a, b, "gt", Comparison::Gt); }
Tensor ge(const Tensor& a, const Tensor& b) { return comparison(a, b, "ge", Comparison::Ge); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return comparison(a, b, "logical_and", Comparison::And); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return comparison(a, b, "logical_or", Comparison::Or); }

}  // namespace focus::cuda
