#pragma once
// focus::dist — the processes of a data-parallel job and the collectives between them, like
// torch.distributed. One process per rank, started by `mpirun -np N program ...`; the ranks
// talk through MPI (built in when Open MPI or MPICH is installed: CMake option FOCUS_DIST).
// A program started without mpirun, or a build without MPI, is a world of one rank in which
// every collective returns its input.
//
//   dist::init();                                   // once, at the start of main
//   dist::all_reduce(loss_sum);                     // every rank now holds the sum over ranks
//   if (dist::is_main()) save(...);                 // rank 0 writes files
//
// GPU tensors travel through NCCL where the CUDA toolkit has it (FOCUS_WITH_NCCL), otherwise
// through page-locked host memory and MPI (see GpuTransport).
#include <cstdint>
#include <string>

#include "tensor/distributed/work.h"
#include "tensor/tensor.h"

namespace focus::dist {

/// How all_reduce combines the ranks' values element by element.
enum class ReduceOp { Sum, Mean, Max, Min };

/// Whether this focus was built with MPI (FOCUS_DIST).
bool built_with_mpi();
/// Whether this focus was built with NCCL for GPU tensors (FOCUS_CUDA and a toolkit that has NCCL).
bool built_with_nccl();

/// Joins the job: under mpirun, initialises MPI (with MPI_THREAD_MULTIPLE, so a communication
/// thread may call it beside the training loop) and registers finalize() to run at exit. Without
/// mpirun, a world of one. Calling it again does nothing. A build without MPI started as one of
/// several ranks throws, saying how to rebuild, instead of running N copies of one job.
void init();
/// Leaves the job: runs what the communication thread still has queued, ends it and NCCL's
/// communicator, then MPI_Finalize. Also runs at exit after init(). Safe to call twice.
void finalize();
bool is_initialized();

/// This process's rank, 0 .. world_size() - 1 (0 before init()).
int rank();
/// The number of ranks (1 before init(), or without mpirun).
int world_size();
/// This rank's index among the ranks on its host (for choosing a GPU), 0 without mpirun.
int local_rank();
/// Rank 0: the one that prints, writes checkpoints and draws.
bool is_main();

/// Combines `tensor` over all ranks in place: afterwards every rank holds the same result. Every
/// rank must call it with a tensor of the same shape and dtype (float32, float64 or int64), in
/// the same order as the other collectives. A GPU tensor goes by gpu_transport().
void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
/// Starts all_reduce(tensor, op) and returns at once; `tensor` holds the result after wait().
/// Until then the tensor belongs to the collective: do not read or write it. CPU tensors are
/// reduced on the communication thread (tensor/distributed/comm_thread.h), one collective after
/// another in the order they were started, behind or before the other collectives as this rank
/// issued them; so every rank must start the same collectives in the same order. GPU tensors go
/// through NCCL on a communication stream (wait() makes the compute stream wait for it; the host
/// does not) or, with GpuTransport::HostStaging, through pinned host memory and the communication
/// thread. Bad arguments throw here; a failed exchange throws from wait(), with its message.
Work all_reduce_async(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
/// The same for one number.
double all_reduce(double value, ReduceOp op = ReduceOp::Sum);
int64_t all_reduce(int64_t value, ReduceOp op = ReduceOp::Sum);

/// Copies `root`'s `tensor` into every other rank's (same shape and dtype on every rank).
void broadcast(Tensor& tensor, int root = 0);
/// Copies `root`'s string to every rank (any length: the size goes first).
std::string broadcast(const std::string& text, int root = 0);

/// Waits until every rank has arrived.
void barrier();

/// How collectives of GPU tensors travel between ranks.
enum class GpuTransport {
  Nccl,         ///< NCCL between the GPUs, on a communication stream (the default where built in)
  HostStaging,  ///< copied to page-locked host memory, exchanged over MPI, copied back (the default otherwise)
};
/// Chooses the transport of GPU collectives on this rank (every rank must choose the same). Nccl
/// in a build without NCCL throws.
void set_gpu_transport(GpuTransport transport);
GpuTransport gpu_transport();

/// Ends the whole job now: prints `message` (naming this rank) to stderr and makes every rank
/// exit with `code` (MPI_Abort). Use it when one rank fails and the others would wait forever.
[[noreturn]] void abort(const std::string& message, int code = 1);

}  // namespace focus::dist
