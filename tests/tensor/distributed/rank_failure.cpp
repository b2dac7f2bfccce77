// A two-rank job in which rank 1 fails at step 3, for test_dist_failure.cpp: `throw` lets an
// exception escape main (the job must end, with the message), `abort` calls dist::abort, `stall`
// stops answering (mpirun --timeout must end it), `none` finishes normally.
#include <fmt/format.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "tensor/distributed/dist.h"

using namespace focus;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "none";
  dist::init();
  Tensor t = full({16}, 1.0, kFloat32);
  for (int step = 0; step < 6; ++step) {
    if (dist::rank() == 1 && step == 3) {
      if (mode == "throw") throw std::runtime_error("rank 1 fails at step 3");
      if (mode == "abort") dist::abort("rank 1 gives up at step 3", 3);
      if (mode == "stall") std::this_thread::sleep_for(std::chrono::hours(1));
    }
    dist::all_reduce(t);
  }
  if (dist::is_main()) fmt::print("finished: {}\n", t.to_vector<float>()[0]);
  return 0;
}
