// dist::on_every_rank and on_main_rank: CTest runs this file once as a single process and once under
// `mpirun -np 2`; every expectation is written in terms of rank() and world_size().
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <stdexcept>

#include "tensor/distributed/agreement.h"
#include "tensor/distributed/dist.h"

using namespace focus;
using Catch::Contains;

TEST_CASE("agreement: work that succeeds everywhere returns normally on every rank", "[dist]") {
  dist::init();
  int calls = 0;
  dist::on_every_rank([&] { ++calls; });
  CHECK(calls == 1);
  int main_calls = 0;
  dist::on_main_rank([&] { ++main_calls; });
  CHECK(main_calls == (dist::is_main() ? 1 : 0));
}

TEST_CASE("agreement: one rank's error is every rank's JobError, with that rank's message", "[dist]") {
  dist::init();
  const int world = dist::world_size(), last = world - 1;
  if (world == 1) {
    // A world of one passes the exception through unchanged, type and all.
    CHECK_THROWS_AS(dist::on_every_rank([] { throw std::invalid_argument("bad shape [2, 3]"); }),
                    std::invalid_argument);
    CHECK_THROWS_AS(dist::on_main_rank([] { throw std::out_of_range("index 7"); }), std::out_of_range);
    return;
  }
  try {
    dist::on_every_rank([&] {
      if (dist::rank() == last) throw std::runtime_error("cannot read run/last.safetensors");
    });
    FAIL("no rank threw");
  } catch (const dist::JobError& e) {
    CHECK(e.failed_rank() == last);
    CHECK(std::string(e.what()) == fmt::format("rank {}: cannot read run/last.safetensors", last));
  }
  // Several failures: the lowest rank speaks, with no prefix when it is rank 0.
  try {
    dist::on_every_rank([&] { throw std::runtime_error(fmt::format("disk full on rank {}", dist::rank())); });
    FAIL("no rank threw");
  } catch (const dist::JobError& e) {
    CHECK(e.failed_rank() == 0);
    CHECK(std::string(e.what()) == "disk full on rank 0");
  }
  // Rank 0's error reaches the ranks that ran nothing.
  CHECK_THROWS_WITH(dist::on_main_rank([] { throw std::runtime_error("runs/x already holds a training run"); }),
                    Contains("runs/x already holds a training run"));
  // And the job goes on: the next collective still matches on every rank.
  CHECK(dist::all_reduce(int64_t{1}) == world);
}
