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
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace focus::dist {

/// How all_reduce combines the ranks' values element by element.
enum class ReduceOp { Sum, Mean, Max, Min };

/// Whether this focus was built with MPI (FOCUS_DIST).
bool built_with_mpi();

/// Joins the job: under mpirun, initialises MPI (with MPI_THREAD_MULTIPLE, so a communication
/// thread may call it beside the training loop) and registers finalize() to run at exit. Without
/// mpirun, a world of one. Calling it again does nothing. A build without MPI started as one of
/// several ranks throws, saying how to rebuild, instead of running N copies of one job.
void init();
/// Leaves the job (MPI_Finalize); also runs at exit after init(). Safe to call twice.
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
/// the same order as the other collectives. A GPU tensor is staged through host memory.
void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
/// The same for one number.
double all_reduce(double value, ReduceOp op = ReduceOp::Sum);
int64_t all_reduce(int64_t value, ReduceOp op = ReduceOp::Sum);

/// Copies `root`'s `tensor` into every other rank's (same shape and dtype on every rank).
void broadcast(Tensor& tensor, int root = 0);
/// Copies `root`'s string to every rank (any length: the size goes first).
std::string broadcast(const std::string& text, int root = 0);

/// Waits until every rank has arrived.
void barrier();

/// Ends the whole job now: prints `message` (naming this rank) to stderr and makes every rank
/// exit with `code` (MPI_Abort). Use it when one rank fails and the others would wait forever.
[[noreturn]] void abort(const std::string& message, int code = 1);

}  // namespace focus::dist
