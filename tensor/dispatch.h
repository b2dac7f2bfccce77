#pragma once
// Choosing the device a kernel runs on. Every kernel in tensor/kernels.h starts with
//
//   FOCUS_DISPATCH_CUDA(common_device("add", a, b), add(a, b));
//
// which checks that all its tensors live on one device (naming both when they do not)
// and, for GPU tensors, returns the CUDA version of the kernel (tensor/cuda/kernels.h).
// That line is the only place a kernel looks at devices: the CPU code below it can
// assume CPU memory.
#include <fmt/format.h>

#include <stdexcept>

#include "tensor/cuda/backend.h"
#include "tensor/tensor.h"

#ifdef FOCUS_WITH_CUDA
#include "tensor/cuda/kernels.h"
#endif

namespace focus {

namespace detail {
inline void note_device(const char* op, const Tensor& t, int position, Device& device, int& first) {
  if (!t.defined()) return;
  if (first < 0) {
    device = t.device();
    first = position;
  } else if (t.device() != device) {
    throw std::invalid_argument(fmt::format(
        "{}: expected all tensors on one device, but argument {} is on {} and argument {} is on {}", op,
        first + 1, device.str(), position + 1, t.device().str()));
  }
}
}  // namespace detail

/// The device that all defined `tensors` live on (cpu when none is defined). Throws an
/// error naming `op` and both devices when they differ.
template <typename... Tensors>
Device common_device(const char* op, const Tensors&... tensors) {
  Device device = kCPU;
  int first = -1, position = 0;
  (detail::note_device(op, tensors, position++, device, first), ...);
  return device;
}

/// Same as common_device, for a list of tensors (cat, stack).
inline Device common_device_of(const char* op, const std::vector<Tensor>& tensors) {
  Device device = kCPU;
  int first = -1;
  for (size_t i = 0; i < tensors.size(); ++i) detail::note_device(op, tensors[i], static_cast<int>(i), device, first);
  return device;
}

}  // namespace focus

#ifdef FOCUS_WITH_CUDA
#define FOCUS_DISPATCH_CUDA(device_expr, call)                  \
  do {                                                          \
    if (const ::focus::Device focus_device_ = (device_expr);    \
        focus_device_.is_cuda()) {                              \
      ::focus::cuda::DeviceGuard focus_guard_(focus_device_.index); \
      return ::focus::cuda::call;                               \
    }                                                           \
  } while (0)
#else
// No CUDA tensor can exist in this build (Storage refuses to allocate one); the check
// stays so that a kernel never reads GPU memory as if it were host memory.
#define FOCUS_DISPATCH_CUDA(device_expr, call)                                \
  do {                                                                        \
    if ((device_expr).is_cuda()) ::focus::cuda::built_without_cuda();         \
  } while (0)
#endif
