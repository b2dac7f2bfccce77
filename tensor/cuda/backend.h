#pragma once
#include <cstddef>

// The CUDA backend's entry points that the rest of tensor/ calls. In a build
// without CUDA (FOCUS_CUDA=OFF) each of them throws "built without CUDA".
namespace focus::cuda {

/// True when the library was built with CUDA and a GPU is visible.
bool is_available();
/// Number of visible GPUs (0 in a build without CUDA).
int device_count();
/// Waits for all queued GPU work.
void synchronize();

void* allocate(size_t nbytes, int device_index);
void deallocate(void* ptr, size_t nbytes, int device_index);
/// Copies between host and device memory; `to_device` says the direction.
void copy_bytes(void* dst, const void* src, size_t nbytes, bool to_device, int device_index);

}  // namespace focus::cuda
