#pragma once
// Out-of-range indices met by GPU kernels (index_select, index_add, gather, scatter_add,
// cross-entropy targets).
//
// A kernel cannot throw, and checking the indices on the host first would cost a
// device→host copy and a wait on every call (PyTorch instead traps with a device-side
// assert, which breaks the whole CUDA context). So the kernels check every index
// themselves: a bad one is never dereferenced (its output is 0, or NaN for a loss, and
// an add is skipped), and the first one is recorded, without any synchronisation, in a
// small record of mapped (zero-copy) host memory. check_index_errors() reads that record
// with a plain host load and throws the CPU's std::out_of_range message. Every CUDA
// indexing kernel calls it on entry, so an error surfaces at the next indexing call once
// the faulty kernel has run; synchronising points (cuda::synchronize, copies to the
// host) are the natural places to call it too.
#include <cuda_runtime.h>

#include <cstdint>

namespace focus::cuda {

/// Which kernel met the bad index (names the op in the message).
enum class IndexOp : int { IndexSelect, IndexAdd, Gather, ScatterAdd, CrossEntropy, CrossEntropyBackward };

/// The first bad index, written by the single kernel thread that claimed it; `reported`
/// is written last, after a system-wide fence, so the host never sees half a record.
struct IndexErrorRecord {
  int op;
  int device;
  int64_t value;  // the bad index or target
  int64_t limit;  // the size it had to stay below (dim size, or the number of classes)
  int64_t extra;  // the dim (indexing ops) or ignore_index (cross-entropy)
  volatile int reported;
};

/// Where a kernel reports: a claim flag in the current GPU's memory (atomics there are
/// reliable, unlike on mapped host memory) and the shared host record.
struct IndexErrorSink {
  int* claimed;
  IndexErrorRecord* record;
  int device;
};

/// The sink for the current device (allocated on first use; never freed).
IndexErrorSink index_error_sink();

/// Throws std::out_of_range for the first bad index a kernel has recorded since the last
/// call, and clears the record; does nothing (and never waits for the GPU) otherwise.
void check_index_errors();

/// Records a bad index unless another thread already did. Call from any thread.
__device__ inline void report_bad_index(const IndexErrorSink& sink, IndexOp op, int64_t value, int64_t limit,
                                        int64_t extra) {
  if (atomicCAS(sink.claimed, 0, 1) != 0) return;
  IndexErrorRecord* record = sink.record;
  record->op = static_cast<int>(op);
  record->device = sink.device;
  record->value = value;
  record->limit = limit;
  record->extra = extra;
  __threadfence_system();
  record->reported = 1;
}

}  // namespace focus::cuda
