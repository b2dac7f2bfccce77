// dist::all_reduce_async and the communication thread it runs on, on any number of ranks: CTest
// runs this file once as a single process and once under `mpirun -np 2`. The thread's own
// guarantees (order, errors, many jobs in flight) are tested through run_on_comm_thread, which
// needs no second rank; the all-reduces check their sums against rank() and world_size().
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "focus.h"
#include "tensor/distributed/comm_thread.h"
#include "tensor/distributed/dist.h"

using namespace focus;
using Catch::Contains;

TEST_CASE("comm thread: jobs run one at a time, in the order queued, off the caller's thread", "[dist][async]") {
  dist::init();
  std::vector<int> order;  // written only by the communication thread
  std::atomic<int> running{0}, most_running{0};
  std::atomic<bool> ran_on_caller{false};
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<dist::Work> works;
  for (int i = 0; i < 500; ++i)
    works.push_back(dist::run_on_comm_thread([&, i] {
      const int now = ++running;
      most_running = std::max(most_running.load(), now);
      if (std::this_thread::get_id() == caller) ran_on_caller = true;
      order.push_back(i);
      --running;
    }));
  works.back().wait();
  for (dist::Work& work : works) CHECK(work.completed());  // first in, first out: all done before the last
  REQUIRE(order.size() == 500);
  for (int i = 0; i < 500; ++i) CHECK(order[static_cast<size_t>(i)] == i);
  CHECK(most_running == 1);
  CHECK_FALSE(ran_on_caller);
}

TEST_CASE("comm thread: an exception surfaces from wait() with its message, and the thread goes on", "[dist][async]") {
  dist::init();
  dist::Work failing = dist::run_on_comm_thread([] { throw std::runtime_error("bucket 3 could not be reduced"); });
  dist::Work odd = dist::run_on_comm_thread([] { throw 42; });  // not even a std::exception
  bool later_ran = false;
  dist::Work later = dist::run_on_comm_thread([&] { later_ran = true; });
  CHECK_THROWS_WITH(failing.wait(), Contains("bucket 3 could not be reduced"));
  CHECK_THROWS_WITH(failing.wait(), Contains("bucket 3 could not be reduced"));  // every time it is asked
  CHECK(failing.completed());
  CHECK_THROWS_AS(odd.wait(), int);
  later.wait();
  CHECK(later_ran);
}

TEST_CASE("comm thread: completed() tells a running job from a finished one without blocking", "[dist][async]") {
  dist::init();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  dist::Work blocked = dist::run_on_comm_thread([released] { released.wait(); });
  dist::Work behind = dist::run_on_comm_thread([] {});
  CHECK_FALSE(blocked.completed());
  CHECK_FALSE(behind.completed());
  release.set_value();
  behind.wait();
  CHECK(blocked.completed());
  CHECK(dist::Work().completed());  // a default Work has nothing to wait for
  dist::Work().wait();
}

TEST_CASE("comm thread: the step after the exchange runs once, on the thread that waits", "[dist][async]") {
  dist::init();
  int runs = 0;
  std::thread::id ran_on;
  dist::Work work = dist::run_on_comm_thread([] {}, [&] { ++runs, ran_on = std::this_thread::get_id(); });
  work.wait();
  work.wait();
  CHECK(runs == 1);
  CHECK(ran_on == std::this_thread::get_id());
  // Not after a failed exchange: there is no result to copy back.
  int after_failure = 0;
  dist::Work failed = dist::run_on_comm_thread([] { throw std::runtime_error("no"); }, [&] { ++after_failure; });
  CHECK_THROWS(failed.wait());
  CHECK(after_failure == 0);
}

TEST_CASE("comm thread: a collective run in order never overtakes queued ones", "[dist][async]") {
  dist::init();
  std::atomic<bool> slow_done{false};
  dist::Work slow = dist::run_on_comm_thread([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    slow_done = true;
  });
  bool saw_slow_done = false;
  dist::run_in_comm_order([&] { saw_slow_done = slow_done.load(); });
  CHECK(saw_slow_done);
  // With nothing queued it runs at once, on this thread.
  std::thread::id ran_on;
  dist::run_in_comm_order([&] { ran_on = std::this_thread::get_id(); });
  CHECK(ran_on == std::this_thread::get_id());
  CHECK_THROWS_WITH(dist::run_in_comm_order([] { throw std::runtime_error("barrier failed"); }),
                    Contains("barrier failed"));
}

TEST_CASE("comm thread: stopping runs what is queued, the next job starts a new thread", "[dist][async]") {
  dist::init();
  std::atomic<int> ran{0};
  std::vector<dist::Work> works;
  for (int i = 0; i < 20; ++i) works.push_back(dist::run_on_comm_thread([&] { ++ran; }));
  dist::stop_comm_thread();
  CHECK(ran == 20);
  for (dist::Work& work : works) CHECK(work.completed());
  dist::stop_comm_thread();  // twice is fine
  dist::Work again = dist::run_on_comm_thread([&] { ++ran; });
  again.wait();
  CHECK(ran == 21);
}

TEST_CASE("all_reduce_async: many in flight, waited in any order, give all_reduce's results", "[dist][async]") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  // Tensor i on rank r holds (r + 1)·(i + 1): its sum over ranks is (i + 1)·world·(world + 1)/2.
  std::vector<Tensor> tensors;
  std::vector<dist::Work> works;
  for (int i = 0; i < 64; ++i) {
    const DType dtype = i % 3 == 0 ? kFloat32 : i % 3 == 1 ? kFloat64 : kInt64;
    tensors.push_back(full({1 + i * 37}, (rank + 1.0) * (i + 1), dtype));
    works.push_back(dist::all_reduce_async(tensors.back()));
  }
  for (int i = 63; i >= 0; --i) works[static_cast<size_t>(i)].wait();
  for (int i = 0; i < 64; ++i) {
    INFO("tensor " << i);
    const std::vector<double> values = tensors[static_cast<size_t>(i)].to(kFloat64).to_vector<double>();
    for (double v : values) REQUIRE(v == (i + 1) * world * (world + 1) / 2.0);
    CHECK(works[static_cast<size_t>(i)].completed());
  }
}

TEST_CASE("all_reduce_async: every operation, and strided views written back on wait()", "[dist][async]") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  Tensor highest = full({5}, static_cast<double>(rank), kFloat64), lowest = highest.clone(), mean = highest.clone();
  Tensor base = full({4, 3}, 1.0, kFloat32);
  Tensor column = base.transpose(0, 1);
  REQUIRE_FALSE(column.is_contiguous());
  std::vector<dist::Work> works{dist::all_reduce_async(highest, dist::ReduceOp::Max),
                                dist::all_reduce_async(lowest, dist::ReduceOp::Min),
                                dist::all_reduce_async(mean, dist::ReduceOp::Mean), dist::all_reduce_async(column)};
  for (dist::Work& work : works) work.wait();
  CHECK(highest.to_vector<double>() == std::vector<double>(5, world - 1.0));
  CHECK(lowest.to_vector<double>() == std::vector<double>(5, 0.0));
  CHECK(mean.to_vector<double>()[0] == Approx((world - 1) / 2.0));
  CHECK(base.to_vector<float>() == std::vector<float>(12, static_cast<float>(world)));
}

TEST_CASE("all_reduce_async: collectives issued between keep their place on every rank", "[dist][async]") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  // Different sizes: were the synchronous ones to overtake the queued ones on one rank only, the
  // ranks would pair up collectives of different shapes and fail.
  Tensor first = full({1000}, 1.0), second = full({7}, rank + 1.0, kFloat64), third = full({300}, 2.0);
  dist::Work first_work = dist::all_reduce_async(first);
  dist::all_reduce(second);  // behind `first`
  Tensor shared = full({3}, dist::is_main() ? 5.0 : 0.0);
  dist::Work third_work = dist::all_reduce_async(third);
  dist::broadcast(shared, 0);  // behind `third`
  dist::barrier();
  first_work.wait();
  third_work.wait();
  CHECK(first.to_vector<float>() == std::vector<float>(1000, static_cast<float>(world)));
  CHECK(second.to_vector<double>() == std::vector<double>(7, world * (world + 1) / 2.0));
  CHECK(third.to_vector<float>() == std::vector<float>(300, 2.0f * world));
  CHECK(shared.to_vector<float>() == std::vector<float>(3, 5.0f));
}

TEST_CASE("all_reduce_async: bad arguments throw at once, on every world size", "[dist][async]") {
  dist::init();
  Tensor undefined;
  CHECK_THROWS_WITH(dist::all_reduce_async(undefined), Contains("all_reduce_async") && Contains("undefined"));
  Tensor flags = full({2}, 1.0, kBool);
  CHECK_THROWS_WITH(dist::all_reduce_async(flags), Contains("bool") && Contains("cannot be reduced"));
  Tensor counts = full({2}, 1.0, kInt64);
  CHECK_THROWS_WITH(dist::all_reduce_async(counts, dist::ReduceOp::Mean), Contains("int64"));
}

TEST_CASE("dist: the GPU transport is NCCL only where it is built in", "[dist]") {
  const dist::GpuTransport before = dist::gpu_transport();
  CHECK(before == (dist::built_with_nccl() ? dist::GpuTransport::Nccl : dist::GpuTransport::HostStaging));
  dist::set_gpu_transport(dist::GpuTransport::HostStaging);
  CHECK(dist::gpu_transport() == dist::GpuTransport::HostStaging);
  if (dist::built_with_nccl())
    dist::set_gpu_transport(dist::GpuTransport::Nccl);
  else
    CHECK_THROWS_WITH(dist::set_gpu_transport(dist::GpuTransport::Nccl), Contains("built without NCCL"));
  dist::set_gpu_transport(before);
}
