#include "tensor/distributed/dist.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "tensor/kernels.h"

#if FOCUS_WITH_MPI
#include <mpi.h>
#endif

namespace focus::dist {

namespace {

bool initialized = false;
int this_rank = 0, ranks = 1, this_local_rank = 0;

// The rank count a launcher announced in the environment (Open MPI, MPICH / PMI, PMIx, Slurm),
// 1 when none did: a build without MPI uses it to refuse N copies of one single-process job.
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  return 1;
}

#if FOCUS_WITH_MPI
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

// A contiguous host tensor holding `tensor`'s values: the tensor itself when it already is one.
Tensor host_contiguous(const Tensor& tensor) {
  if (tensor.device().is_cpu() && tensor.is_contiguous()) return tensor;
  return kernels::contiguous_copy(tensor.device().is_cpu() ? tensor : tensor.to(kCPU), tensor.dtype());
}

// values *= factor on a contiguous host float32 or float64 tensor (the mean after a sum), without
// allocating: it runs on every gradient bucket of every training step.
void scale_in_place(Tensor& values, double factor) {
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
void copy_back(Tensor& tensor, const Tensor& values) {
  if (values.data_ptr() == tensor.data_ptr() && values.shares_storage(tensor)) return;
  tensor.copy_(values.to(tensor.device()));
}
#endif

}  // namespace

bool built_with_mpi() { return FOCUS_WITH_MPI != 0; }

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
  // Checked on every world size, so a program that is wrong on N ranks is wrong on one too.
  if (!tensor.defined()) throw std::invalid_argument("dist::all_reduce: the tensor is undefined");
  if (tensor.dtype() != kFloat32 && tensor.dtype() != kFloat64 && tensor.dtype() != kInt64)
    throw std::invalid_argument(fmt::format("dist::all_reduce: {} tensors cannot be reduced (float32, float64 or int64)",
                                            dtype_name(tensor.dtype())));
  if (op == ReduceOp::Mean && tensor.dtype() == kInt64)
    throw std::invalid_argument("dist::all_reduce: the mean of int64 tensors is not an int64; reduce a float copy");
  if (ranks == 1 || tensor.numel() == 0) return;
#if FOCUS_WITH_MPI
  Tensor values = host_contiguous(tensor);
  const int status = MPI_Allreduce(MPI_IN_PLACE, values.data_ptr(), static_cast<int>(values.numel()),
                                   mpi_type(values.dtype()), mpi_op(op), MPI_COMM_WORLD);
  if (status != MPI_SUCCESS)  // the description is built only when it is needed, not every step
    check(status, fmt::format("all_reduce ({}) of {} {}", op_name(op), dtype_name(values.dtype()),
                              shape_str(values.shape()))
                      .c_str());
  if (op == ReduceOp::Mean) scale_in_place(values, 1.0 / ranks);
  copy_back(tensor, values);
#else
  (void)op;
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
#if FOCUS_WITH_MPI
  Tensor values = host_contiguous(tensor);
  const int bytes = static_cast<int>(values.numel() * static_cast<int64_t>(element_size(values.dtype())));
  check(MPI_Bcast(values.data_ptr(), bytes, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
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
  if (!out.empty()) check(MPI_Bcast(out.data(), static_cast<int>(out.size()), MPI_CHAR, root, MPI_COMM_WORLD), "broadcast");
#endif
  return out;
}

void barrier() {
#if FOCUS_WITH_MPI
  if (ranks > 1) check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
#endif
}

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
