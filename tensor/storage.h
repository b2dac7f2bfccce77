#pragma once
#include <cstddef>
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

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

}  // namespace focus
