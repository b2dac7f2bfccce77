// focus::dist on any number of ranks: CTest runs this file once as a single process and once
// under `mpirun -np 2`; every expectation is written in terms of rank() and world_size().
#include <catch2/catch.hpp>

#include "focus.h"
#include "tensor/distributed/dist.h"

using namespace focus;
using Catch::Contains;

namespace {
struct Joined {
  Joined() { dist::init(); }
};
}  // namespace

TEST_CASE("dist: ranks, and all_reduce of tensors and numbers", "[dist]") {
  Joined joined;
  const int rank = dist::rank(), world = dist::world_size();
  REQUIRE(world >= 1);
  REQUIRE(rank >= 0);
  REQUIRE(rank < world);
  REQUIRE(dist::is_main() == (rank == 0));
  REQUIRE(dist::local_rank() <= rank);

  // Rank r holds r + 1 everywhere: the sum is world·(world + 1)/2.
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    Tensor t = full({3, 4}, rank + 1.0, dtype);
    dist::all_reduce(t);
    for (double v : t.to(kFloat64).to_vector<double>()) CHECK(v == world * (world + 1) / 2.0);
  }
  Tensor highest = full({5}, static_cast<double>(rank), kFloat64), lowest = highest.clone(), mean = highest.clone();
  dist::all_reduce(highest, dist::ReduceOp::Max);
  dist::all_reduce(lowest, dist::ReduceOp::Min);
  dist::all_reduce(mean, dist::ReduceOp::Mean);
  CHECK(highest.to_vector<double>() == std::vector<double>(5, world - 1.0));
  CHECK(lowest.to_vector<double>() == std::vector<double>(5, 0.0));
  CHECK(mean.to_vector<double>()[0] == Approx((world - 1) / 2.0));
  CHECK(dist::all_reduce(0.5, dist::ReduceOp::Sum) == Approx(0.5 * world));
  CHECK(dist::all_reduce(int64_t{rank}, dist::ReduceOp::Max) == world - 1);

  // A strided view is reduced through a copy and written back into the view.
  Tensor base = full({4, 3}, 1.0, kFloat32);
  Tensor column = base.transpose(0, 1);
  REQUIRE_FALSE(column.is_contiguous());
  dist::all_reduce(column);
  CHECK(base.to_vector<float>() == std::vector<float>(12, static_cast<float>(world)));
}

TEST_CASE("dist: broadcast and barrier", "[dist]") {
  Joined joined;
  Tensor t = full({2, 2}, dist::is_main() ? 7.0 : -1.0, kFloat64);
  dist::broadcast(t, 0);
  CHECK(t.to_vector<double>() == std::vector<double>(4, 7.0));
  const std::string said = dist::broadcast(dist::is_main() ? std::string("from rank 0") : std::string("x"), 0);
  CHECK(said == "from rank 0");
  dist::barrier();
}

TEST_CASE("dist: bad arguments are errors on every world size", "[dist]") {
  Joined joined;
  Tensor undefined;
  CHECK_THROWS_WITH(dist::all_reduce(undefined), Contains("undefined"));
  Tensor flags = full({2}, 1.0, kBool);
  CHECK_THROWS_WITH(dist::all_reduce(flags), Contains("bool") && Contains("cannot be reduced"));
  Tensor counts = full({2}, 1.0, kInt64);
  CHECK_THROWS_WITH(dist::all_reduce(counts, dist::ReduceOp::Mean), Contains("int64"));
  Tensor t = full({1}, 1.0);
  CHECK_THROWS_WITH(dist::broadcast(t, dist::world_size()), Contains("is not a rank"));
}
