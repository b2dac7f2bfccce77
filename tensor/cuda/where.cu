// Elementwise selection on the GPU: where (cond ? a : b) and masked_fill, with
// broadcasting. Same rules as tensor/cpu/where.cpp (arguments checked there).
#include <cstdint>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {

// Bool tensors are read as their bytes (uint8_t), and any nonzero byte counts as true,
// so the select never depends on how the compiler loads a C++ bool.

/// cond ? a : b
template <typename T>
struct Select {
  __device__ T operator()(uint8_t pick_a, T a, T b) const { return pick_a ? a : b; }
};

/// masked ? value : x
template <typename T>
struct FillWhere {
  T value;
  __device__ T operator()(T x, uint8_t masked) const { return masked ? value : x; }
};

Tensor as_dtype(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : kernels::contiguous_copy(t, dtype); }

}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  DType dtype = promote_types(a.dtype(), b.dtype());
  // A non-bool condition means "nonzero": one conversion to bool keeps the kernel a plain select.
  Tensor c = as_dtype(cond, kBool), ca = as_dtype(a, dtype), cb = as_dtype(b, dtype);
  Tensor out = empty(shape, TensorOptions(dtype).with_device(a.device()));
  dispatch_all(dtype, "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, uint8_t, T, T>(out, Select<T>{}, c, ca, cb);
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  Tensor out = empty(x.shape(), TensorOptions(x.dtype()).with_device(x.device()));
  dispatch_all(x.dtype(), "masked_fill", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, T, uint8_t>(out, FillWhere<T>{static_cast<T>(value)}, x, mask);
  });
  return out;
}

}  // namespace focus::cuda
