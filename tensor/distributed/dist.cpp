#include "tensor/distributed/dist.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "tensor/distributed/comm_thread.h"
#include "tensor/distributed/nccl.h"
#include "tensor/kernels.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

#if FOCUS_WITH_MPI
#include <mpi.h>
#endif

namespace focus::dist {

namespace {

bool initialized = false;
int this_rank = 0, ranks = 1, this_local_rank = 0;
GpuTransport transport = FOCUS_WITH_NCCL ? GpuTransport::Nccl : GpuTransport::HostStaging;

// The checks every all-reduce makes, on every world size, so a program that is wrong on N ranks
// is wrong on one too.
void check_reducible(const Tensor& tensor, ReduceOp op, const char* caller) {
  if (!tensor.defined()) throw std::invalid_argument(fmt::format("{}: the tensor is undefined", caller));
  if (tensor.dtype() != kFloat32 && tensor.dtype() != kFloat64 && tensor.dtype() != kInt64)
    throw std::invalid_argument(fmt::format("{}: {} tensors cannot be reduced (float32, float64 or int64)", caller,
                                            dtype_name(tensor.dtype())));
  if (op == ReduceOp::Mean && tensor.dtype() == kInt64)
    throw std::invalid_argument(
        fmt::format("{}: the mean of int64 tensors is not an int64; reduce a float copy", caller));
}

bool goes_through_nccl(const Tensor& tensor) { return tensor.device().is_cuda() && transport == GpuTransport::Nccl; }

// The rank count a launcher announced in the environment (Open MPI, MPICH / PMI, PMIx, Slurm),
// 1 when none did: a build without MPI uses it to refuse N copies of one single-process job.
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  return 1;
}

#if FOCUS_WITH_MPI
// The communication thread calls MPI beside the training thread, never at the same time as it
// (comm_thread.h): MPI must allow calls from several threads (MPI_THREAD_SERIALIZED at least).
bool mpi_allows_comm_thread = true;

const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "?";
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean: return MPI_SUM;  // Mean divides afterwards
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_SUM;
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case kFloat32: return MPI_FLOAT;
    case kFloat64: return MPI_DOUBLE;
    default: return MPI_INT64_T;  // all_reduce admits only these three
  }
}

void check(int status, const char* what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw std::runtime_error(fmt::format("dist: {} failed on rank {}: {}", what, this_rank, std::string(text, length)));
}

// The host memory a collective works on: `tensor` itself when it is a contiguous CPU tensor,
// otherwise a contiguous copy. A GPU tensor's copy is page-locked, so that the copy back is only
// queued on the GPU's stream; the copy here waits for the kernels that computed the tensor.
Tensor host_buffer(const Tensor& tensor) {
  if (tensor.device().is_cpu()) return tensor.is_contiguous() ? tensor : kernels::contiguous_copy(tensor);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(tensor.numel() * element_size(tensor.dtype()), kCPU, /*pinned=*/true);
  impl->shape = tensor.shape();
  impl->strides = contiguous_strides(tensor.shape());
  impl->dtype = tensor.dtype();
  Tensor pinned(impl);
  kernels::copy(pinned, tensor);
  return pinned;
}

bool is_buffer_of(const Tensor& values, const Tensor& tensor) {
  return values.data_ptr() == tensor.data_ptr() && values.shares_storage(tensor);
}

// values *= factor on a contiguous host float32 or float64 tensor (the mean after a sum), without
// allocating: it runs on every gradient bucket of every training step.
void scale_in_place(const Tensor& values, double factor) {
  const int64_t n = values.numel();
  if (values.dtype() == kFloat32) {
    float* data = static_cast<float*>(values.data_ptr());
    for (int64_t i = 0; i < n; ++i) data[i] *= static_cast<float>(factor);
  } else {
    double* data = static_cast<double*>(values.data_ptr());
    for (int64_t i = 0; i < n; ++i) data[i] *= factor;
  }
}

// Writes `values` back into `tensor` unless the collective worked on `tensor`'s own memory.
void copy_back(const Tensor& tensor, const Tensor& values) {
  if (!is_buffer_of(values, tensor)) kernels::copy(tensor, values);
}

// The all-reduce itself, in place on a contiguous host tensor; Mean divides the sum afterwards.
// Runs on whichever thread the communication order gives it (comm_thread.h).
void mpi_all_reduce(const Tensor& values, ReduceOp op) {
  const int status = MPI_Allreduce(MPI_IN_PLACE, values.data_ptr(), static_cast<int>(values.numel()),
                                   mpi_type(values.dtype()), mpi_op(op), MPI_COMM_WORLD);
  if (status != MPI_SUCCESS)  // the description is built only when it is needed, not every step
    check(status, fmt::format("all_reduce ({}) of {} {}", op_name(op), dtype_name(values.dtype()),
                              shape_str(values.shape()))
                      .c_str());
  if (op == ReduceOp::Mean) scale_in_place(values, 1.0 / ranks);
}
#endif

}  // namespace

bool built_with_mpi() { return FOCUS_WITH_MPI != 0; }
bool built_with_nccl() { return FOCUS_WITH_NCCL != 0; }

void init() {
  if (initialized) return;
  const int announced = launcher_world_size();
#if FOCUS_WITH_MPI
  // Only a launcher's job initialises MPI: a program run by itself stays a plain process (no
  // singleton MPI start-up, no MPI threads), a world of one.
  if (announced == 1) {
    initialized = true;
    return;
  }
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    mpi_allows_comm_thread = provided >= MPI_THREAD_SERIALIZED;
  } else {
    int provided = 0;
    MPI_Query_thread(&provided);
    mpi_allows_comm_thread = provided >= MPI_THREAD_SERIALIZED;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &this_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, this_rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &this_local_rank);
  MPI_Comm_free(&local);
  // Errors come back as codes (and become exceptions) instead of ending the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::atexit(finalize);
#else
  if (announced > 1)
    throw std::runtime_error(fmt::format(
        "dist::init: started as one of {} ranks (mpirun), but this focus was built without MPI, so every rank "
        "would train alone; install Open MPI (libopenmpi-dev) and rebuild with -DFOCUS_DIST=ON",
        announced));
#endif
  initialized = true;
}

void finalize() {
  // Collectives still queued are part of the job: the other ranks wait for them.
  stop_comm_thread();
  nccl::destroy();
  this_rank = 0, ranks = 1, this_local_rank = 0;
#if FOCUS_WITH_MPI
  int started = 0, finished = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&finished);
  if (started && !finished) MPI_Finalize();
#endif
  initialized = false;
}

bool is_initialized() { return initialized; }
int rank() { return this_rank; }
int world_size() { return ranks; }
int local_rank() { return this_local_rank; }
bool is_main() { return this_rank == 0; }

void all_reduce(Tensor& tensor, ReduceOp op) {
  check_reducible(tensor, op, "dist::all_reduce");
  if (ranks == 1 || tensor.numel() == 0) return;
  if (goes_through_nccl(tensor)) return nccl::all_reduce(tensor, op);
#if FOCUS_WITH_MPI
  Tensor values = host_buffer(tensor);
  run_in_comm_order([&] { mpi_all_reduce(values, op); });
  copy_back(tensor, values);
#endif
}

Work all_reduce_async(Tensor& tensor, ReduceOp op) {
  check_reducible(tensor, op, "dist::all_reduce_async");
  if (ranks == 1 || tensor.numel() == 0) return Work();
  if (goes_through_nccl(tensor)) return nccl::all_reduce_async(tensor, op);
#if FOCUS_WITH_MPI
  if (!mpi_allows_comm_thread) {
    all_reduce(tensor, op);
    return Work();
  }
  Tensor values = host_buffer(tensor);
  // The job holds the buffer while it runs; the copy back (onto a GPU: only queued there) belongs
  // to the thread that waits, and so does freeing a page-locked buffer, which records an event on
  // that thread's GPU.
  std::function<void()> copy_back_on_wait;
  if (!is_buffer_of(values, tensor)) copy_back_on_wait = [tensor, values] { copy_back(tensor, values); };
  return run_on_comm_thread([values, op] { mpi_all_reduce(values, op); }, std::move(copy_back_on_wait));
#else
  return Work();
#endif
}

double all_reduce(double value, ReduceOp op) {
  Tensor t = full({}, value, kFloat64);
  all_reduce(t, op);
  return t.item<double>();
}

int64_t all_reduce(int64_t value, ReduceOp op) {
  if (op == ReduceOp::Mean) throw std::invalid_argument("dist::all_reduce: the mean of integers is not an integer");
  Tensor t = full({}, static_cast<double>(value), kInt64);
  all_reduce(t, op);
  return t.item<int64_t>();
}

void broadcast(Tensor& tensor, int root) {
  if (!tensor.defined()) throw std::invalid_argument("dist::broadcast: the tensor is undefined");
  if (root < 0 || root >= ranks)
    throw std::invalid_argument(fmt::format("dist::broadcast: root {} is not a rank (world size {})", root, ranks));
  if (ranks == 1 || tensor.numel() == 0) return;
  if (goes_through_nccl(tensor)) return nccl::broadcast(tensor, root);
#if FOCUS_WITH_MPI
  Tensor values = host_buffer(tensor);
  const int bytes = static_cast<int>(values.numel() * static_cast<int64_t>(element_size(values.dtype())));
  run_in_comm_order([&] { check(MPI_Bcast(values.data_ptr(), bytes, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast"); });
  copy_back(tensor, values);
#endif
}

std::string broadcast(const std::string& text, int root) {
  if (ranks == 1) return text;
  Tensor length = full({}, static_cast<double>(text.size()), kInt64);
  broadcast(length, root);
  std::string out(static_cast<size_t>(length.item<int64_t>()), '\0');
  if (rank() == root) out = text;
#if FOCUS_WITH_MPI
  if (!out.empty())
    run_in_comm_order(
        [&] { check(MPI_Bcast(out.data(), static_cast<int>(out.size()), MPI_CHAR, root, MPI_COMM_WORLD), "broadcast"); });
#endif
  return out;
}

void barrier() {
#if FOCUS_WITH_MPI
  if (ranks > 1) run_in_comm_order([] { check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); });
#endif
}

void set_gpu_transport(GpuTransport chosen) {
  if (chosen == GpuTransport::Nccl && !built_with_nccl())
    throw std::invalid_argument(
        "dist::set_gpu_transport: this focus was built without NCCL (it needs FOCUS_CUDA and a CUDA toolkit with "
        "nccl.h and libnccl); GPU tensors go through host memory (GpuTransport::HostStaging)");
  transport = chosen;
}

GpuTransport gpu_transport() { return transport; }

void abort(const std::string& message, int code) {
  std::fprintf(stderr, "rank %d of %d: %s\n", this_rank, ranks, message.c_str());
  std::fflush(stderr);
#if FOCUS_WITH_MPI
  int started = 0, finished = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&finished);
  if (started && !finished) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

}  // namespace focus::dist
