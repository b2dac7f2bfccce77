// Copies within one GPU: any strides, broadcasting and dtype conversion in one pass.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"

namespace focus::cuda {

namespace {
template <typename D, typename S>
struct Convert {
  __device__ D operator()(S value) const { return static_cast<D>(value); }
};

template <typename T>
struct Constant {
  T value;
  __device__ T operator()() const { return value; }
};
}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  dispatch_all(dst.dtype(), "copy_", [&](auto dst_tag) {
    using D = typename decltype(dst_tag)::type;
    dispatch_all(src.dtype(), "copy_", [&](auto src_tag) {
      using S = typename decltype(src_tag)::type;
      map<D, S>(dst, Convert<D, S>{}, src);
    });
  });
}

void fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T>(dst, Constant<T>{static_cast<T>(value)});
  });
}

Tensor contiguous_copy(const Tensor& src, std::optional<DType> dtype) {
  Tensor out = empty(src.shape(), TensorOptions(dtype.value_or(src.dtype())).with_device(src.device()));
  copy(out, src);
  return out;
}

}  // namespace focus::cuda
