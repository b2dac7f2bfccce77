#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

// The CUDA backend's entry points that the rest of focus calls: devices, memory,
// copies. In a build without CUDA (FOCUS_CUDA=OFF) is_available() is false,
// device_count() is 0, and everything that would touch a GPU throws
// "built without CUDA".
namespace focus::cuda {

/// True when the library was built with CUDA and a GPU is visible.
bool is_available();
/// Number of visible GPUs (0 in a build without CUDA).
int device_count();
/// Waits for all queued GPU work on the current device.
void synchronize();
/// Throws the "built without CUDA" error (what every GPU request does in a CPU-only build).
[[noreturn]] void built_without_cuda();

/// Makes `device_index` the current GPU for this thread while it lives; restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device_index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// ---- memory: a caching allocator per GPU (tensor/cuda/allocator.cu) ----------------------
/// Bytes held by tensors now and at most since the last reset, and bytes the cache holds
/// from the driver (cudaMalloc'ed, in use or waiting to be reused).
struct MemoryStats {
  size_t allocated_bytes = 0;
  size_t peak_allocated_bytes = 0;
  size_t reserved_bytes = 0;
  size_t peak_reserved_bytes = 0;
  int64_t allocations = 0;  ///< requests served
  int64_t cache_hits = 0;   ///< requests served by a freed block instead of cudaMalloc
};
MemoryStats memory_stats(int device_index = 0);
/// One line for logs: "cuda:0 memory: 812 MiB peak in tensors (now 20 MiB), 1024 MiB reserved, 99.9% of requests from the cache".
std::string memory_summary(int device_index = 0);
/// Sets the peaks to the current values.
void reset_peak_memory_stats(int device_index = 0);
/// Returns every cached, unused block to the driver (tensors in use keep theirs).
void empty_cache();

/// Zero-filled device memory from the cache (blocks are reused by size; see allocator.cu).
void* allocate(size_t nbytes, int device_index);
void deallocate(void* ptr, size_t nbytes, int device_index);
/// Page-locked host memory (reused once the GPU copies that read it have finished), zero-filled.
void* allocate_pinned(size_t nbytes);
void deallocate_pinned(void* ptr, size_t nbytes);

// ---- copies (tensor/cuda/backend.cu) ------------------------------------------------------
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
/// Copies nbytes. Host→device copies from pinned memory are asynchronous (ordered with
/// the kernels on the GPU's stream); all other copies to the host wait for the data.
void copy_bytes(void* dst, const void* src, size_t nbytes, CopyKind kind, int device_index, bool src_pinned = false);

}  // namespace focus::cuda
