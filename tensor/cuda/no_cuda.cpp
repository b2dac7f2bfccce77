// The CUDA backend as seen by a CPU-only build: every entry point explains that
// this library was built without CUDA, instead of silently running on the CPU.
#ifndef FOCUS_WITH_CUDA
#include <stdexcept>

#include "tensor/cuda/backend.h"

namespace focus::cuda {

void built_without_cuda() {
  throw std::runtime_error(
      "focus was built without CUDA: reconfigure with -DFOCUS_CUDA=ON on a machine with nvcc");
}

bool is_available() { return false; }
int device_count() { return 0; }
void synchronize() {}
DeviceGuard::DeviceGuard(int) { built_without_cuda(); }
DeviceGuard::~DeviceGuard() = default;
MemoryStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
void* allocate(size_t, int) { built_without_cuda(); }
void deallocate(void*, size_t, int) {}
void* allocate_pinned(size_t) { built_without_cuda(); }
void deallocate_pinned(void*, size_t) {}
void copy_bytes(void*, const void*, size_t, CopyKind, int, bool) { built_without_cuda(); }

}  // namespace focus::cuda
#endif
