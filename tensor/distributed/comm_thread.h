#pragma once
// The communication thread: one per process, where collectives run in the background
// (dist::all_reduce_async) while the training thread goes on with backward.
//
// Why one thread with a first-in-first-out queue: MPI needs every rank to issue its collectives
// in the same order. A program issues them in one order on every rank; the queue keeps that
// order, and the collectives the training thread runs itself (dist::all_reduce, broadcast,
// barrier) go through run_in_comm_order, which never lets them overtake a queued one.
//
// The thread starts with the first job and ends at dist::finalize() (and at exit) after running
// everything still queued; a job after that starts a new one.
#include <functional>

#include "tensor/distributed/work.h"

namespace focus::dist {

/// Queues `job` behind every job queued before it and returns at once. The Work's wait() blocks
/// until the job has run, rethrows what it threw (any exception, with its message), and then
/// runs `after_wait` once on the waiting thread (the step that needs the caller's thread, such as
/// a copy back onto a GPU). `after_wait` is released there too, with whatever it holds.
Work run_on_comm_thread(std::function<void()> job, std::function<void()> after_wait = {});

/// Runs `job` after every queued job and before any queued later, and returns when it has run
/// (rethrowing what it threw): at once on the calling thread when the communication thread is
/// idle (the usual case, which costs nothing), otherwise on the communication thread.
void run_in_comm_order(const std::function<void()>& job);

/// Runs what is queued, then ends the thread. Safe to call when none runs.
void stop_comm_thread();

}  // namespace focus::dist
