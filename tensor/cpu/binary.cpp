// Elementwise binary kernels with NumPy broadcasting.
#include <fmt/format.h>

#include <cmath>

#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {

/// Checks that both operands exist and broadcast together; returns the device they share.
Device binary_device(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op);
  check_defined(b, op);
  Device device = common_device(op, a, b);
  broadcast_shapes(a.shape(), b.shape(), op);
  return device;
}

// Arithmetic is computed in the promoted dtype; bool operands count as int64.
DType arithmetic_dtype(const Tensor& a, const Tensor& b) {
  DType d = promote_types(a.dtype(), b.dtype());
  return d == kBool ? kInt64 : d;
}

template <typename F>
Tensor arithmetic(const Tensor& a, const Tensor& b, const char* op, F f) {
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  DType dtype = arithmetic_dtype(a, b);
  // Operands in another dtype are converted once (rare: mixing int64 and float).
  Tensor ca = a.dtype() == dtype ? a : contiguous_copy(a, dtype);
  Tensor cb = b.dtype() == dtype ? b : contiguous_copy(b, dtype);
  Tensor out = empty_for_overwrite(shape, TensorOptions(dtype).with_device(a.device()));
  cpu::dispatch_all(dtype, op, [&]<typename T>() { cpu::map<T, T, T>(out, [&](T x, T y) { return f(x, y); }, ca, cb); });
  return out;
}

template <typename F>
Tensor comparison(const Tensor& a, const Tensor& b, const char* op, F f) {
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  DType dtype = promote_types(a.dtype(), b.dtype());
  Tensor ca = a.dtype() == dtype ? a : contiguous_copy(a, dtype);
  Tensor cb = b.dtype() == dtype ? b : contiguous_copy(b, dtype);
  Tensor out = empty_for_overwrite(shape, TensorOptions(kBool).with_device(a.device()));
  cpu::dispatch_all(dtype, op, [&]<typename T>() {
    cpu::map<bool, T, T>(out, [&](T x, T y) { return static_cast<bool>(f(x, y)); }, ca, cb);
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "add"), add(a, b));
  return arithmetic(a, b, "add", [](auto x, auto y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "sub"), sub(a, b));
  return arithmetic(a, b, "sub", [](auto x, auto y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "mul"), mul(a, b));
  return arithmetic(a, b, "mul", [](auto x, auto y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "div"), div(a, b));
  if (!is_floating(a.dtype()) && !is_floating(b.dtype()))  // true division, as in PyTorch
    return div(contiguous_copy(a, kFloat32), b);
  return arithmetic(a, b, "div", [](auto x, auto y) { return x / y; });
}
Tensor pow(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "pow"), pow(a, b));
  return arithmetic(a, b, "pow", [](auto x, auto y) {
    using T = decltype(x);
    return static_cast<T>(std::pow(x, y));
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "maximum"), maximum(a, b));
  return arithmetic(a, b, "maximum", [](auto x, auto y) { return x > y ? x : y; });
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "minimum"), minimum(a, b));
  return arithmetic(a, b, "minimum", [](auto x, auto y) { return x < y ? x : y; });
}
Tensor add_scaled(const Tensor& a, const Tensor& b, double alpha) {
  FOCUS_DISPATCH(binary_device(a, b, "add_scaled"), add_scaled(a, b, alpha));
  return arithmetic(a, b, "add_scaled", [alpha](auto x, auto y) {
    using T = decltype(x);
    return static_cast<T>(x + static_cast<T>(alpha) * y);
  });
}

void add_(const Tensor& a, const Tensor& b) {
  Device device = binary_device(a, b, "add_");
  if (broadcast_shapes(a.shape(), b.shape(), "add_") != a.shape())
    throw std::invalid_argument(fmt::format("add_: cannot add shape {} into shape {} in place",
                                            shape_str(b.shape()), shape_str(a.shape())));
  FOCUS_DISPATCH(device, add_(a, b));
  Tensor cb = b.dtype() == a.dtype() ? b : contiguous_copy(b, a.dtype());
  cpu::dispatch_all(a.dtype(), "add_", [&]<typename T>() {
    cpu::map<T, T, T>(a, [](T x, T y) { return static_cast<T>(x + y); }, a, cb);
  });
}

Tensor eq(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "eq"), eq(a, b));
  return comparison(a, b, "eq", [](auto x, auto y) { return x == y; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "ne"), ne(a, b));
  return comparison(a, b, "ne", [](auto x, auto y) { return x != y; });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "lt"), lt(a, b));
  return comparison(a, b, "lt", [](auto x, auto y) { return x < y; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "le"), le(a, b));
  return comparison(a, b, "le", [](auto x, auto y) { return x <= y; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "gt"), gt(a, b));
  return comparison(a, b, "gt", [](auto x, auto y) { return x > y; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "ge"), ge(a, b));
  return comparison(a, b, "ge", [](auto x, auto y) { return x >= y; });
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "logical_and"), logical_and(a, b));
  return comparison(a, b, "logical_and", [](auto x, auto y) { return x && y; });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  FOCUS_DISPATCH(binary_device(a, b, "logical_or"), logical_or(a, b));
  return comparison(a, b, "logical_or", [](auto x, auto y) { return x || y; });
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
