#pragma once
// Choosing where a kernel runs. Every kernel in tensor/kernels.h starts with
//
//   FOCUS_DISPATCH(common_device("add", a, b), add(a, b));
//
// which checks that all its tensors live on one device (naming both when they do not),
// returns the CUDA version of the kernel (tensor/cuda/kernels.h) for GPU tensors, and for
// CPU tensors returns the AVX2 or AVX-512 build of the same kernel when that is the build
// chosen for this CPU (tensor/cpu_info.h). That line is the only place a kernel looks at
// devices or instruction sets: the code below it can assume CPU memory, and is compiled
// once per instruction set.
#include <fmt/format.h>

#include <stdexcept>

#include "tensor/cuda/backend.h"
#include "tensor/tensor.h"

#ifdef FOCUS_WITH_CUDA
#include "tensor/cuda/kernels.h"
#endif

// Only the baseline build forwards to the others (an AVX2 kernel calling contiguous_copy
// stays in the AVX2 build).
#if defined(FOCUS_CPU_DISPATCH) && !defined(FOCUS_CPU_VARIANT_BUILD)
#define FOCUS_FORWARDS_TO_CPU_VARIANTS 1
#include "tensor/cpu/variants.h"
#include "tensor/cpu_info.h"
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

/// For kernels that write into a tensor their caller holds (optimizer steps): counts the write in
/// its version (autograd's check of saved tensors), once per call. The build that receives the call
/// counts it; the instruction-set build it forwards to does not count it again.
inline void count_in_place_write(const Tensor& t) {
#ifndef FOCUS_CPU_VARIANT_BUILD
  t.bump_version();
#else
  (void)t;
#endif
}

}  // namespace focus

#ifdef FOCUS_WITH_CUDA
#define FOCUS_DISPATCH_TO_CUDA(device, call)                    \
  if (device.is_cuda()) {                                       \
    ::focus::cuda::DeviceGuard focus_guard_(device.index);      \
    return ::focus::cuda::call;                                 \
  }
#else
// No CUDA tensor can exist in this build (Storage refuses to allocate one); the check
// stays so that a kernel never reads GPU memory as if it were host memory.
#define FOCUS_DISPATCH_TO_CUDA(device, call) \
  if (device.is_cuda()) ::focus::cuda::built_without_cuda();
#endif

#ifdef FOCUS_FORWARDS_TO_CPU_VARIANTS
#define FOCUS_DISPATCH_TO_CPU_VARIANT(call)                                       \
  switch (::focus::cpu_capability()) {                                            \
    case ::focus::CpuCapability::AVX512: return ::focus::kernels::avx512::call;   \
    case ::focus::CpuCapability::AVX2: return ::focus::kernels::avx2::call;       \
    case ::focus::CpuCapability::Default: break;                                  \
  }
#else
#define FOCUS_DISPATCH_TO_CPU_VARIANT(call)
#endif

#define FOCUS_DISPATCH(device_expr, call)                       \
  do {                                                          \
    const ::focus::Device focus_device_ = (device_expr);        \
    FOCUS_DISPATCH_TO_CUDA(focus_device_, call)                 \
    FOCUS_DISPATCH_TO_CPU_VARIANT(call)                         \
  } while (0)
