#include <fmt/format.h>

#include "tensor/cpu/loops.h"
#include "tensor/cuda/backend.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

namespace {
cuda::CopyKind copy_kind(Device dst, Device src) {
  if (dst.is_cuda() && src.is_cuda()) return cuda::CopyKind::DeviceToDevice;
  return dst.is_cuda() ? cuda::CopyKind::HostToDevice : cuda::CopyKind::DeviceToHost;
}

// Between devices only bytes move: broadcasting, dtype conversion and strides are
// resolved on the source's device first, and on the destination's device after.
void copy_across_devices(const Tensor& dst, const Tensor& src) {
  Tensor staged = src;
  if (src.shape() != dst.shape() || src.dtype() != dst.dtype() || !src.is_contiguous())
    staged = contiguous_copy(views::expand(src, dst.shape()), dst.dtype());
  Tensor target = dst.is_contiguous() ? dst : empty(dst.shape(), TensorOptions(dst.dtype()).with_device(dst.device()));
  cuda::copy_bytes(target.data_ptr(), staged.data_ptr(), staged.numel() * element_size(staged.dtype()),
                   copy_kind(dst.device(), src.device()), dst.device().is_cuda() ? dst.device().index : src.device().index,
                   src.is_pinned() && staged.shares_storage(src));
  if (!target.shares_storage(dst)) copy(dst, target);
}
}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "copy_");
  check_defined(src, "copy_");
  Shape target = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  if (target != dst.shape())
    throw std::invalid_argument(fmt::format("copy_: source of shape {} cannot be broadcast to destination {}",
                                            shape_str(src.shape()), shape_str(dst.shape())));
  if (dst.device() != src.device()) return copy_across_devices(dst, src);
  FOCUS_DISPATCH(dst.device(), copy(dst, src));
  cpu::dispatch_all(dst.dtype(), "copy_", [&]<typename D>() {
    cpu::dispatch_all(src.dtype(), "copy_", [&]<typename S>() {
      cpu::map<D, S>(dst, [](S v) { return static_cast<D>(v); }, src);
    });
  });
}

void fill(const Tensor& dst, double value) {
  check_defined(dst, "fill_");
  FOCUS_DISPATCH(dst.device(), fill(dst, value));
  cpu::dispatch_all(dst.dtype(), "fill_", [&]<typename T>() {
    T v = static_cast<T>(value);
    cpu::map<T>(dst, [v]() { return v; });
  });
}

Tensor contiguous_copy(const Tensor& src, std::optional<DType> dtype) {
  Tensor out = empty_for_overwrite(src.shape(), TensorOptions(dtype.value_or(src.dtype())).with_device(src.device()));
  copy(out, src);
  return out;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
