#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/device.h"

namespace focus {

/// A block of raw memory that tensors view, zero-initialised unless `zero_fill` is false (for
/// kernel outputs that write every byte: clearing 30 MB of activations each step costs time).
/// CPU memory is 64-byte aligned, or page-locked (`pinned`) so the GPU can copy from it while
/// the host goes on; CUDA memory comes from the CUDA backend's caching allocator (always cleared).
class Storage {
 public:
  Storage(size_t nbytes, Device device, bool pinned = false, bool zero_fill = true);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

  /// How many times this memory was written in place through a tensor (fill_, copy_, set, an
  /// optimizer step): shared by every view of it, as PyTorch's version counter is. Autograd compares
  /// it with the version a tensor had when an op saved it for backward (autograd/saved_versions.h).
  /// Kernels writing their own fresh outputs do not count: nobody can have saved those yet.
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool pinned_ = false;
  // Atomic: threads may write disjoint slices of one tensor (a batch being filled) at once.
  std::atomic<uint32_t> version_{0};
};

}  // namespace focus
