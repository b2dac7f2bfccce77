#pragma once
// Collectives of GPU tensors through NCCL, for dist::all_reduce, all_reduce_async and broadcast
// (GpuTransport::Nccl). Built in where the CUDA build finds NCCL in the toolkit (FOCUS_WITH_NCCL);
// elsewhere every function here throws, saying so.
//
// One communicator per process over all ranks, on GPU dist::local_rank() (one GPU per rank), made
// by the first GPU collective: rank 0's ncclUniqueId reaches the other ranks by MPI broadcast.
// A collective runs on a communication stream of its own: an event makes it start after the
// compute stream's work so far (which produced the tensor), and Work::wait() makes the compute
// stream wait for its end (another event). Neither side blocks the host, and compute kernels
// queued before wait() run beside the exchange.
//
// Unlike dist::all_reduce, these run on a world of one too (a communicator of one rank), which
// is how a single process tests them.
#include "tensor/distributed/dist.h"

namespace focus::dist::nccl {

/// all_reduce of a tensor on GPU local_rank(), queued on the communication stream.
Work all_reduce_async(Tensor& tensor, ReduceOp op);
/// The same, with the compute stream ordered after it (the host does not wait).
void all_reduce(Tensor& tensor, ReduceOp op);
/// Copies `root`'s tensor into every rank's, ordered like all_reduce.
void broadcast(Tensor& tensor, int root);
/// Ends the communicator after its queued collectives (dist::finalize calls it; so does exit).
void destroy();

}  // namespace focus::dist::nccl
