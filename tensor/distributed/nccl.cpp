#include "tensor/distributed/nccl.h"

#include <fmt/format.h>

#include <stdexcept>

#if FOCUS_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "tensor/cuda/backend.h"
#include "tensor/kernels.h"

namespace focus::cuda {
// The compute stream all of focus's kernels run on (tensor/cuda/backend.cu). Declared here rather
// than through tensor/cuda/common.cuh, which holds device code a C++ compiler cannot read.
cudaStream_t stream();
}  // namespace focus::cuda

namespace focus::dist::nccl {

namespace {

void check_cuda(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so that the next call does not report it again
  throw std::runtime_error(fmt::format("dist: {} failed on rank {}: {}", what, rank(), cudaGetErrorString(status)));
}

void check_nccl(ncclResult_t status, const char* what, ncclComm_t comm) {
  if (status == ncclSuccess) return;
  const char* detail = ncclGetLastError(comm);
  throw std::runtime_error(fmt::format("dist: NCCL {} failed on rank {}: {}{}", what, rank(), ncclGetErrorString(status),
                                       detail && *detail ? fmt::format(" ({})", detail) : std::string()));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case kFloat32: return ncclFloat32;
    case kFloat64: return ncclFloat64;
    case kInt64: return ncclInt64;
    default: throw std::invalid_argument(fmt::format("dist: NCCL cannot reduce {} tensors", dtype_name(dtype)));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    // NCCL's average scales by 1/world in the same float type: the CPU's sum-then-scale for a
    // power-of-two world, within rounding otherwise.
    case ReduceOp::Mean: return ncclAvg;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  return ncclSum;
}

struct Communicator {
  ncclComm_t comm = nullptr;
  int device = -1;
  // Where the collectives run. Non-blocking: focus computes on the legacy default stream, which
  // would otherwise wait for every collective (and they for it), leaving nothing to overlap.
  cudaStream_t stream = nullptr;
};

std::mutex communicator_mutex;  // also makes one thread at a time queue work on the communicator
Communicator* communicator = nullptr;

void destroy_locked() {
  if (!communicator) return;
  Communicator* ending = communicator;
  communicator = nullptr;
  try {
    cuda::DeviceGuard on(ending->device);
    // The other ranks need this rank's part of every collective already queued: let them finish.
    cudaStreamSynchronize(ending->stream);
    ncclCommDestroy(ending->comm);
    cudaStreamDestroy(ending->stream);
  } catch (...) {
    // Leaving the job: a GPU that cannot be reached any more has nothing left to free.
  }
  delete ending;
}

void destroy_at_exit() {
  std::lock_guard<std::mutex> lock(communicator_mutex);
  destroy_locked();
}

// One communicator over every rank, on GPU local_rank(). The ranks make it at their first GPU
// collective, which every rank issues in the same place.
Communicator& communicator_for(const Tensor& tensor) {
  if (!communicator) {
    const int device = local_rank(), devices = cuda::device_count();
    if (device >= devices)
      throw std::runtime_error(fmt::format(
          "dist: rank {} is rank {} of its host, which has {} GPU(s): NCCL needs a GPU of its own for every rank "
          "(start at most {} ranks per host, or use dist::GpuTransport::HostStaging)",
          rank(), device, devices, devices));
    // Rank 0's id reaches the others as 16 int64 (the id's 128 bytes) through an MPI broadcast.
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", nullptr);
    static_assert(sizeof(ncclUniqueId) % sizeof(int64_t) == 0);
    Tensor id_words = zeros({static_cast<int64_t>(sizeof id / sizeof(int64_t))}, kInt64);
    std::memcpy(id_words.data_ptr(), &id, sizeof id);
    dist::broadcast(id_words, 0);
    std::memcpy(&id, id_words.data_ptr(), sizeof id);

    cuda::DeviceGuard on(device);
    auto made = std::make_unique<Communicator>();
    made->device = device;
    check_cuda(cudaStreamCreateWithFlags(&made->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    const ncclResult_t status = ncclCommInitRank(&made->comm, world_size(), id, rank());
    if (status != ncclSuccess) {
      cudaStreamDestroy(made->stream);
      check_nccl(status, "ncclCommInitRank", nullptr);
    }
    communicator = made.release();
    // Registered after the CUDA runtime started, so it runs before the runtime's own teardown.
    static const bool registered = (std::atexit(destroy_at_exit), true);
    (void)registered;
  }
  if (tensor.device().index != communicator->device)
    throw std::invalid_argument(fmt::format(
        "dist: rank {} communicates through NCCL on cuda:{} (its local rank), but this tensor is on {}", rank(),
        communicator->device, tensor.device().str()));
  return *communicator;
}

// A collective queued on the communication stream, ended by `done`. wait() orders the compute
// stream after it; so does dropping the Work unwaited, because the allocator hands a freed block
// to the next compute kernel at once (tensor/cuda/allocator.cu) while NCCL may still use it.
class StreamWork final : public Work::Impl {
 public:
  StreamWork(Communicator& communicator, cudaEvent_t done, Tensor tensor, Tensor values)
      : comm_(communicator.comm), device_(communicator.device), done_(done), tensor_(std::move(tensor)),
        values_(std::move(values)) {}

  ~StreamWork() override {
    try {
      cuda::DeviceGuard on(device_);
      if (!waited_) cudaStreamWaitEvent(cuda::stream(), done_, 0);
      cudaEventDestroy(done_);  // released by the runtime once the event has happened
    } catch (...) {
    }
  }

  bool completed() override {
    cuda::DeviceGuard on(device_);
    const cudaError_t status = cudaEventQuery(done_);
    if (status == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    return true;  // done, or failed: wait() says which
  }

  void wait() override {
    if (waited_) return;
    cuda::DeviceGuard on(device_);
    ncclResult_t async_error = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError", comm_);
    check_nccl(async_error, "collective", comm_);
    check_cuda(cudaStreamWaitEvent(cuda::stream(), done_, 0), "cudaStreamWaitEvent");
    waited_ = true;
    // A strided tensor was reduced in a contiguous copy: back into it, on the compute stream.
    if (!values_.shares_storage(tensor_)) kernels::copy(tensor_, values_);
    values_ = Tensor();
  }

 private:
  ncclComm_t comm_;
  int device_;
  cudaEvent_t done_;
  Tensor tensor_, values_;  // kept alive until the compute stream is ordered after the collective
  bool waited_ = false;
};

// Queues `collective` (given the communicator's stream) after the compute stream's work so far and
// returns its Work.
template <typename Collective>
Work enqueue(Tensor& tensor, const char* what, Collective&& collective) {
  std::lock_guard<std::mutex> lock(communicator_mutex);
  Communicator& c = communicator_for(tensor);
  cuda::DeviceGuard on(c.device);
  Tensor values = tensor.is_contiguous() ? tensor : kernels::contiguous_copy(tensor);  // on the compute stream
  cudaEvent_t ready = nullptr, done = nullptr;
  check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventRecord(ready, cuda::stream()), "cudaEventRecord");
  const cudaError_t waited = cudaStreamWaitEvent(c.stream, ready, 0);
  cudaEventDestroy(ready);  // the wait above already holds what it needs
  check_cuda(waited, "cudaStreamWaitEvent");
  check_nccl(collective(values, c), what, c.comm);
  check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  const cudaError_t recorded = cudaEventRecord(done, c.stream);
  if (recorded != cudaSuccess) cudaEventDestroy(done);
  check_cuda(recorded, "cudaEventRecord");
  return Work(std::make_shared<StreamWork>(c, done, tensor, values));
}

}  // namespace

Work all_reduce_async(Tensor& tensor, ReduceOp op) {
  const ncclDataType_t type = nccl_type(tensor.dtype());
  return enqueue(tensor, "all_reduce", [&](const Tensor& values, Communicator& c) {
    return ncclAllReduce(values.data_ptr(), values.data_ptr(), static_cast<size_t>(values.numel()), type,
                         nccl_op(op), c.comm, c.stream);
  });
}

void all_reduce(Tensor& tensor, ReduceOp op) { nccl::all_reduce_async(tensor, op).wait(); }

void broadcast(Tensor& tensor, int root) {
  const size_t bytes = static_cast<size_t>(tensor.numel()) * element_size(tensor.dtype());
  enqueue(tensor, "broadcast", [&](const Tensor& values, Communicator& c) {
    return ncclBroadcast(values.data_ptr(), values.data_ptr(), bytes, ncclUint8, root, c.comm, c.stream);
  }).wait();
}

void destroy() {
  std::lock_guard<std::mutex> lock(communicator_mutex);
  destroy_locked();
}

}  // namespace focus::dist::nccl

#else  // a build without NCCL: say so

namespace focus::dist::nccl {

namespace {
[[noreturn]] void built_without_nccl() {
  throw std::runtime_error(
      "dist: this focus was built without NCCL (it needs -DFOCUS_CUDA=ON and a CUDA toolkit with nccl.h and "
      "libnccl); GPU tensors go through host memory (dist::GpuTransport::HostStaging)");
}
}  // namespace

Work all_reduce_async(Tensor&, ReduceOp) { built_without_nccl(); }
void all_reduce(Tensor&, ReduceOp) { built_without_nccl(); }
void broadcast(Tensor&, int) { built_without_nccl(); }
void destroy() {}

}  // namespace focus::dist::nccl

#endif
