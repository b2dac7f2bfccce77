// Elementwise selection: where (cond ? a : b) and masked_fill, with broadcasting.
#include <fmt/format.h>

#include "tensor/cpu/loops.h"
#include "tensor/cpu/vec_math.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(cond, "where");
  check_defined(a, "where");
  check_defined(b, "where");
  Device device = common_device("where", cond, a, b);
  Shape shape;
  try {
    shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  } catch (const std::invalid_argument&) {  // name all three shapes, not an intermediate one
    throw std::invalid_argument(fmt::format("where: condition {}, input {} and other {} cannot be broadcast together",
                                            shape_str(cond.shape()), shape_str(a.shape()), shape_str(b.shape())));
  }
  FOCUS_DISPATCH(device, where(cond, a, b));
  DType dtype = promote_types(a.dtype(), b.dtype());
  // A non-bool condition means "nonzero"; converting it once keeps the loop a plain select.
  // Bool bytes are read as uint8_t (0 or 1): GCC does not vectorise loads of C++ bool.
  Tensor c = cond.dtype() == kBool ? cond : contiguous_copy(cond, kBool);
  Tensor ca = a.dtype() == dtype ? a : contiguous_copy(a, dtype);
  Tensor cb = b.dtype() == dtype ? b : contiguous_copy(b, dtype);
  Tensor out = empty(shape, TensorOptions(dtype).with_device(a.device()));
  cpu::dispatch_all(dtype, "where", [&]<typename T>() {
    cpu::map<T, uint8_t, T, T>(out, [](uint8_t pick_a, T x, T y) { return pick_a ? x : y; }, c, ca, cb);
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined(x, "masked_fill");
  check_defined(mask, "masked_fill");
  Device device = common_device("masked_fill", x, mask);
  if (mask.dtype() != kBool)
    throw std::invalid_argument(
        fmt::format("masked_fill: mask must be a bool tensor, got {}", dtype_name(mask.dtype())));
  // The result has x's shape: the mask may broadcast to it, but not grow it.
  bool fits = mask.dim() <= x.dim();
  for (int64_t i = 1; fits && i <= mask.dim(); ++i) {
    int64_t m = mask.shape()[mask.dim() - i];
    fits = m == 1 || m == x.shape()[x.dim() - i];
  }
  if (!fits)
    throw std::invalid_argument(fmt::format("masked_fill: mask of shape {} cannot be broadcast to input of shape {}",
                                            shape_str(mask.shape()), shape_str(x.shape())));
  if (x.dtype() == kInt64 && !(value >= -9.2233720368547758e18 && value < 9.2233720368547758e18))
    throw std::invalid_argument(fmt::format("masked_fill: value {} cannot be converted to int64", value));
  FOCUS_DISPATCH(device, masked_fill(x, mask, value));
  Tensor out = empty(x.shape(), TensorOptions(x.dtype()).with_device(x.device()));
  cpu::dispatch_all(x.dtype(), "masked_fill", [&]<typename T>() {
    const T fill = static_cast<T>(value);
    // uint8_t for the mask: see where(). blend, not ?:, or the load of `fill` stays a branch.
    cpu::map<T, T, uint8_t>(out, [fill](T v, uint8_t masked) { return cpu::blend(masked != 0, fill, v); }, x, mask);
  });
  return out;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
