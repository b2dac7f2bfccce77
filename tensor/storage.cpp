#include "tensor/storage.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "tensor/cuda/backend.h"
#include "tensor/parallel.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace focus {

namespace {
// glibc serves blocks above its mmap threshold (128 KiB, rising to at most 32 MiB) with a fresh
// mmap and unmaps them on free, so the next step's activation of the same size page-faults all
// its memory in again (a 32 MiB output: 8,192 faults, most of a convolution's time); a training
// step frees and reallocates the same sizes every iteration. Serving every block from the heap,
// and never trimming it, turns that into plain reuse: a caching allocator's main benefit for the
// price of two settings. Memory freed stays with the process until it exits.
void keep_large_blocks_in_heap() {
#if defined(__GLIBC__)
  static const bool once = [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)once;
#endif
}

// FOCUS_POISON_UNINITIALIZED=1 (CI sets it): memory that empty_for_overwrite hands out is filled
// with all-ones bytes, NaN in every float and -1 in every integer, so a kernel that reads an
// element of its output before writing it makes a test fail instead of passing on leftover zeros.
bool poison_uninitialized() {
  static const bool poison = [] {
    const char* value = std::getenv("FOCUS_POISON_UNINITIALIZED");
    return value && *value && std::string(value) != "0";
  }();
  return poison;
}
// memset, shared among the threads for a large block: one thread's stores fall well short of what
// the memory takes (zeroing a translator's gradient buffers took 1.7 % of its step on one thread).
void zero(char* data, size_t bytes) {
  constexpr size_t kChunk = size_t{256} << 10;
  if (bytes < 4 * kChunk) {
    std::memset(data, 0, bytes);
    return;
  }
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    const size_t first = static_cast<size_t>(begin) * kChunk;
    std::memset(data + first, 0, std::min(bytes, static_cast<size_t>(end) * kChunk) - first);
  });
}
}  // namespace

Storage::Storage(size_t nbytes, Device device, bool pinned, bool zero_fill) : nbytes_(nbytes), device_(device), pinned_(pinned) {
  if (device.is_cuda()) {
    if (pinned) throw std::invalid_argument("Storage: only CPU memory can be pinned");
    data_ = cuda::allocate(nbytes, device.index);
    return;
  }
  if (pinned) {
    data_ = cuda::allocate_pinned(nbytes);
    return;
  }
  keep_large_blocks_in_heap();
  // Round up so aligned_alloc's size requirement holds, and never ask for 0 bytes.
  size_t padded = (nbytes + 63) / 64 * 64;
  if (padded == 0) padded = 64;
  data_ = std::aligned_alloc(64, padded);
  if (!data_) throw std::bad_alloc();
  if (zero_fill)
    zero(static_cast<char*>(data_), padded);
  else if (poison_uninitialized())
    std::memset(data_, 0xff, padded);
}

Storage::~Storage() {
  if (device_.is_cuda())
    cuda::deallocate(data_, nbytes_, device_.index);
  else if (pinned_)
    cuda::deallocate_pinned(data_, nbytes_);
  else
    std::free(data_);
}

}  // namespace focus
