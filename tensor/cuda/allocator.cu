// GPU memory through a cache, as PyTorch does: cudaMalloc and cudaFree synchronise the
// device and cost tens of microseconds, while a training step frees and asks for the same
// sizes every iteration. A freed block goes to a free list instead of back to the driver
// and serves the next request of a similar size. All work runs on one stream
// (common.cuh), so a block freed by the host can be handed out again at once: any kernel
// that still reads it was queued before the kernel that will write it.
//
// Pinned (page-locked) host memory is cached the same way, but the GPU may still be
// copying out of a freed pinned block, so each one carries an event and is reused only
// once that event has completed.
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/cuda/backend.h"
#include "tensor/cuda/common.cuh"

namespace focus::cuda {

namespace {

constexpr size_t kSmallLimit = size_t{1} << 20;  // blocks up to 1 MiB are rounded to 512 bytes
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t{2} << 20;  // larger ones to 2 MiB

size_t rounded_size(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  size_t unit = nbytes <= kSmallLimit ? kSmallRound : kLargeRound;
  return (nbytes + unit - 1) / unit * unit;
}

std::string mebibytes(size_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MiB"; }

class DeviceCache {
 public:
  void* allocate(size_t nbytes, int device) {
    const size_t size = rounded_size(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.allocations;
    void* ptr = take_cached(size);
    if (ptr) {
      ++stats_.cache_hits;
    } else {
      ptr = malloc_from_driver(size, nbytes, device);
    }
    stats_.allocated_bytes += block_size_.at(ptr);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return ptr;
  }

  void deallocate(void* ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = block_size_.find(ptr);
    if (it == block_size_.end()) return;  // not ours: ignore rather than throw from a destructor
    stats_.allocated_bytes -= it->second;
    free_blocks_.emplace(it->second, ptr);
  }

  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peaks() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
    stats_.peak_reserved_bytes = stats_.reserved_bytes;
  }

 private:
  // The smallest free block that fits, if it wastes at most half of itself (a 2 MiB
  // request must not pin down a 1 GiB block).
  void* take_cached(size_t size) {
    auto it = free_blocks_.lower_bound(size);
    if (it == free_blocks_.end() || it->first > 2 * size) return nullptr;
    void* ptr = it->second;
    free_blocks_.erase(it);
    return ptr;
  }

  void* malloc_from_driver(size_t size, size_t requested, int device) {
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      // Out of memory: give the cache back to the driver and try once more.
      FOCUS_CUDA_CHECK(cudaStreamSynchronize(stream()));
      release_cached_locked();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw std::runtime_error("CUDA out of memory on cuda:" + std::to_string(device) + ": asked for " +
                               std::to_string(requested) + " bytes; focus holds " +
                               mebibytes(stats_.allocated_bytes) + " in tensors and " +
                               mebibytes(stats_.reserved_bytes) + " in all; the device has " +
                               mebibytes(free_bytes) + " free of " + mebibytes(total_bytes) + " (" +
                               cudaGetErrorString(status) + ")");
    }
    block_size_[ptr] = size;
    stats_.reserved_bytes += size;
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
    return ptr;
  }

  void release_cached_locked() {
    for (auto& [size, ptr] : free_blocks_) {
      cudaFree(ptr);
      block_size_.erase(ptr);
      stats_.reserved_bytes -= size;
    }
    free_blocks_.clear();
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;       // size -> block, smallest first
  std::unordered_map<void*, size_t> block_size_;  // every block we hold, in use or free
  MemoryStats stats_;
};

// One cache per device, created on first use and never destroyed: tensors freed during
// static destruction may still return their blocks.
DeviceCache& cache_for(int device) {
  // The mutex and the list are leaked too: a tensor created before the first GPU allocation
  // (a global assigned later) is destroyed after function statics would have been.
  static std::mutex& mutex = *new std::mutex;
  static std::vector<DeviceCache*>& caches = *new std::vector<DeviceCache*>;
  std::lock_guard<std::mutex> lock(mutex);
  if (device < 0) throw std::invalid_argument("cuda: negative device index " + std::to_string(device));
  if (caches.size() <= static_cast<size_t>(device)) caches.resize(device + 1, nullptr);
  if (!caches[device]) caches[device] = new DeviceCache();
  return *caches[device];
}

class PinnedCache {
 public:
  void* allocate(size_t nbytes) {
    const size_t size = rounded_size(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = free_blocks_.lower_bound(size); it != free_blocks_.end() && it->first <= 2 * size; ++it) {
      Block& block = blocks_.at(it->second);
      if (block.event && cudaEventQuery(block.event) != cudaSuccess) {
        cudaGetLastError();  // cudaErrorNotReady: a copy still reads it
        continue;
      }
      void* ptr = it->second;
      free_blocks_.erase(it);
      std::memset(ptr, 0, nbytes);
      return ptr;
    }
    void* ptr = nullptr;
    FOCUS_CUDA_CHECK(cudaHostAlloc(&ptr, size, cudaHostAllocDefault));
    std::memset(ptr, 0, size);
    blocks_[ptr] = Block{size, nullptr};
    return ptr;
  }

  void deallocate(void* ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = blocks_.find(ptr);
    if (it == blocks_.end()) return;
    Block& block = it->second;
    // Copies queued before this point may still read the block; the event marks their end.
    if (!block.event && cudaEventCreateWithFlags(&block.event, cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();
      block.event = nullptr;
    }
    if (block.event && cudaEventRecord(block.event, stream()) != cudaSuccess) cudaGetLastError();
    free_blocks_.emplace(block.size, ptr);
  }

 private:
  struct Block {
    size_t size;
    cudaEvent_t event;
  };
  std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;
  std::unordered_map<void*, Block> blocks_;
};

PinnedCache& pinned_cache() {
  static PinnedCache* cache = new PinnedCache();  // never destroyed, like the device caches
  return *cache;
}

}  // namespace

void* allocate(size_t nbytes, int device_index) {
  DeviceGuard guard(device_index);
  void* ptr = cache_for(device_index).allocate(nbytes, device_index);
  // Storage's contract on every device: fresh memory reads as zeros.
  FOCUS_CUDA_CHECK(cudaMemsetAsync(ptr, 0, nbytes, stream()));
  return ptr;
}

void deallocate(void* ptr, size_t, int device_index) {
  if (ptr) cache_for(device_index).deallocate(ptr);
}

void* allocate_pinned(size_t nbytes) { return pinned_cache().allocate(nbytes); }
void deallocate_pinned(void* ptr, size_t) {
  if (ptr) pinned_cache().deallocate(ptr);
}

MemoryStats memory_stats(int device_index) { return cache_for(device_index).stats(); }
void reset_peak_memory_stats(int device_index) { cache_for(device_index).reset_peaks(); }

void empty_cache() {
  if (!is_available()) return;
  FOCUS_CUDA_CHECK(cudaStreamSynchronize(stream()));
  for (int device = 0; device < device_count(); ++device) {
    DeviceGuard guard(device);
    cache_for(device).release_cached();
  }
}

}  // namespace focus::cuda
