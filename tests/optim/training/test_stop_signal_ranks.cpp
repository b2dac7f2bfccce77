// StopSignal::requested_on_any_rank: CTest runs this file once as a single process and once under
// `mpirun -np 2`, where the signal reaches only the last rank and both must stop.
#include <catch2/catch.hpp>

#include <csignal>

#include "optim/training/stop_signal.h"
#include "tensor/distributed/dist.h"

using namespace focus;

TEST_CASE("a signal on one rank stops every rank after the same step, under its name", "[training_run][dist]") {
  dist::init();
  const bool signalled_here = dist::rank() == dist::world_size() - 1;
  training::StopSignal stop;
  for (int step = 0; step < 3; ++step) CHECK_FALSE(stop.requested_on_any_rank());
  if (signalled_here) std::raise(SIGTERM);  // a scheduler's time limit, delivered to one process
  CHECK(stop.requested() == signalled_here);
  CHECK(stop.requested_on_any_rank());  // the same answer on every rank, at the same step
  CHECK(stop.requested());              // the others take on the signal...
  CHECK(stop.signal_number() == SIGTERM);
  CHECK(stop.exit_code() == 143);  // ...and its exit status
  CHECK(std::string(stop.signal_name()) == "SIGTERM");
}
