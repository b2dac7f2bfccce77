#include <fmt/format.h>

#include "tensor/cpu/loops.h"
#include "tensor/cuda/backend.h"
#include "tensor/kernels.h"

namespace focus::kernels {

void copy(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "copy_");
  check_defined(src, "copy_");
  Shape target = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  if (target != dst.shape())
    throw std::invalid_argument(fmt::format("copy_: source of shape {} cannot be broadcast to destination {}",
                                            shape_str(src.shape()), shape_str(dst.shape())));
  if (!dst.device().is_cpu() || !src.device().is_cpu()) {
    // Cross-device copies move bytes of contiguous same-dtype tensors only.
    if (!dst.is_contiguous() || src.shape() != dst.shape() || src.dtype() != dst.dtype())
      throw std::invalid_argument("copy_: device copies need contiguous tensors of one shape and dtype");
    Tensor s = src.device().is_cpu() ? src.contiguous() : src;
    cuda::copy_bytes(dst.data_ptr(), s.data_ptr(), s.numel() * element_size(s.dtype()), dst.device().is_cuda(),
                     dst.device().is_cuda() ? dst.device().index : src.device().index);
    return;
  }
  cpu::dispatch_all(dst.dtype(), "copy_", [&]<typename D>() {
    cpu::dispatch_all(src.dtype(), "copy_", [&]<typename S>() {
      cpu::map<D, S>(dst, [](S v) { return static_cast<D>(v); }, src);
    });
  });
}

void fill(const Tensor& dst, double value) {
  cpu::check_cpu(dst, "fill_");
  cpu::dispatch_all(dst.dtype(), "fill_", [&]<typename T>() {
    T v = static_cast<T>(value);
    cpu::map<T>(dst, [v]() { return v; });
  });
}

Tensor contiguous_copy(const Tensor& src, std::optional<DType> dtype) {
  Tensor out = empty(src.shape(), TensorOptions(dtype.value_or(src.dtype())).with_device(src.device()));
  copy(out, src);
  return out;
}

}  // namespace focus::kernels
