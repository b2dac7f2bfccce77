// Collectives of GPU tensors against the CPU's on the same values: NCCL (where built in) and the
// staging through pinned host memory and MPI. CTest runs this file as one process and under
// `mpirun -np 2`; without a GPU (or in a build without CUDA) it reports "skipped" (exit code 4).
// NCCL wants a GPU per rank: with fewer GPUs than ranks on the host its cases say so and pass over
// NCCL, while the staged path still runs (the ranks may share a GPU).
#include <catch2/catch.hpp>

#include <vector>

#include "focus.h"
#include "nn/parallel/distributed_data_parallel.h"
#include "tensor/distributed/dist.h"
#include "tensor/distributed/nccl.h"
#include "tests/cuda/cuda_check.h"

using namespace focus;
using focus::testing::require_gpu_or_skip;

namespace {

// Joins the job before the GPU check, so that on a machine without one every rank leaves alike.
void join_and_require_gpu() {
  dist::init();
  require_gpu_or_skip();
}

// This rank's GPU: its own where the host has one per rank, else shared.
Device gpu_of_this_rank() { return Device::cuda(dist::local_rank() % cuda::device_count()); }

// NCCL runs here: built in, and a GPU for every rank of this host (the same answer on every rank
// of a one-host job, so all of them run the NCCL cases or none does).
bool nccl_can_run() {
  if (!dist::built_with_nccl()) {
    WARN("built without NCCL: only the staged path is tested");
    return false;
  }
  const int64_t lacking = dist::all_reduce(int64_t{dist::local_rank() >= cuda::device_count() ? 1 : 0});
  if (lacking > 0) {
    WARN("fewer GPUs than ranks on this host: NCCL needs one per rank, its cases are not run");
    return false;
  }
  return true;
}

// Rank r's values for tensor `i`: distinct per rank, exact in float32 sums.
Tensor rank_values(const Shape& shape, DType dtype, int i) {
  Generator data(1000 + 17 * static_cast<uint64_t>(dist::rank()) + static_cast<uint64_t>(i));
  return randint(-50, 50, shape, kInt64, &data).to(dtype);
}

// The same all-reduce on the CPU (MPI) and on the GPU through `reduce_on_gpu`, for each op, dtype
// and a strided view; the results must be equal (sums of small integers are exact; the mean of
// two ranks divides by 2, exact too).
template <typename ReduceOnGpu>
void check_against_cpu(ReduceOnGpu&& reduce_on_gpu) {
  int i = 0;
  for (dist::ReduceOp op : {dist::ReduceOp::Sum, dist::ReduceOp::Mean, dist::ReduceOp::Max, dist::ReduceOp::Min})
    for (DType dtype : {kFloat32, kFloat64, kInt64}) {
      if (op == dist::ReduceOp::Mean && dtype == kInt64) continue;
      INFO("op " << static_cast<int>(op) << ", " << dtype_name(dtype));
      Tensor on_cpu = rank_values({33, 65}, dtype, i++);
      Tensor on_gpu = on_cpu.to(gpu_of_this_rank());
      dist::all_reduce(on_cpu, op);
      reduce_on_gpu(on_gpu, op);
      CHECK(on_gpu.to(kCPU).to(kFloat64).to_vector<double>() == on_cpu.to(kFloat64).to_vector<double>());
    }
  // A strided view is reduced through a contiguous copy and written back into the view.
  Tensor base_cpu = rank_values({16, 24}, kFloat32, i++);
  Tensor base_gpu = base_cpu.to(gpu_of_this_rank());
  Tensor view_cpu = base_cpu.transpose(0, 1), view_gpu = base_gpu.transpose(0, 1);
  REQUIRE_FALSE(view_gpu.is_contiguous());
  dist::all_reduce(view_cpu);
  reduce_on_gpu(view_gpu, dist::ReduceOp::Sum);
  CHECK(base_gpu.to(kCPU).to_vector<float>() == base_cpu.to_vector<float>());
}

// Restores the GPU transport a test changed.
struct TransportScope {
  dist::GpuTransport before = dist::gpu_transport();
  explicit TransportScope(dist::GpuTransport chosen) { dist::set_gpu_transport(chosen); }
  ~TransportScope() { dist::set_gpu_transport(before); }
};

}  // namespace

TEST_CASE("dist on the GPU: an NCCL all-reduce gives the CPU's result, on one rank or several", "[cuda][dist]") {
  join_and_require_gpu();
  if (!nccl_can_run()) return;
  check_against_cpu([](Tensor& t, dist::ReduceOp op) { dist::nccl::all_reduce(t, op); });
  // In flight together, waited in reverse, then used by a GPU kernel queued after wait().
  std::vector<Tensor> on_cpu, on_gpu;
  std::vector<dist::Work> works;
  for (int i = 0; i < 16; ++i) {
    on_cpu.push_back(rank_values({1 + 1000 * i}, kFloat32, 100 + i));
    on_gpu.push_back(on_cpu.back().to(gpu_of_this_rank()));
    dist::all_reduce(on_cpu.back());
    works.push_back(dist::nccl::all_reduce_async(on_gpu.back(), dist::ReduceOp::Sum));
  }
  for (int i = 15; i >= 0; --i) works[static_cast<size_t>(i)].wait();
  for (int i = 0; i < 16; ++i) {
    const Tensor doubled = on_gpu[static_cast<size_t>(i)] * 2.0;
    CHECK(doubled.to(kCPU).to_vector<float>() == (on_cpu[static_cast<size_t>(i)] * 2.0).to_vector<float>());
  }
  Tensor shared = (dist::is_main() ? full({5, 7}, 3.0) : zeros({5, 7})).to(gpu_of_this_rank());
  dist::nccl::broadcast(shared, 0);
  CHECK(shared.to(kCPU).to_vector<float>() == std::vector<float>(35, 3.0f));
}

TEST_CASE("dist on the GPU: a tensor on another GPU than the rank's NCCL one is refused", "[cuda][dist]") {
  join_and_require_gpu();
  if (!nccl_can_run() || cuda::device_count() < 2) return;
  const int other = (dist::local_rank() + 1) % cuda::device_count();
  Tensor elsewhere = zeros({4}).to(Device::cuda(other));
  CHECK_THROWS_WITH(dist::nccl::all_reduce(elsewhere, dist::ReduceOp::Sum), Catch::Contains("its local rank"));
}

TEST_CASE("dist on the GPU: staged through pinned host memory and MPI, the CPU's result", "[cuda][dist]") {
  join_and_require_gpu();
  TransportScope staged(dist::GpuTransport::HostStaging);
  check_against_cpu([](Tensor& t, dist::ReduceOp op) { dist::all_reduce(t, op); });
  check_against_cpu([](Tensor& t, dist::ReduceOp op) { dist::all_reduce_async(t, op).wait(); });
  Tensor shared = (dist::is_main() ? full({5, 7}, 3.0) : zeros({5, 7})).to(gpu_of_this_rank());
  dist::broadcast(shared, 0);
  CHECK(shared.to(kCPU).to_vector<float>() == std::vector<float>(35, 3.0f));
}

TEST_CASE("dist on the GPU: the default transport gives the CPU's result", "[cuda][dist]") {
  join_and_require_gpu();
  if (dist::gpu_transport() == dist::GpuTransport::Nccl && !nccl_can_run()) return;
  check_against_cpu([](Tensor& t, dist::ReduceOp op) { dist::all_reduce(t, op); });
  check_against_cpu([](Tensor& t, dist::ReduceOp op) { dist::all_reduce_async(t, op).wait(); });
}

TEST_CASE("DDP on the GPU: the gradients are the CPU replica's, with overlap and without", "[cuda][ddp]") {
  join_and_require_gpu();
  const bool nccl = dist::gpu_transport() == dist::GpuTransport::Nccl;
  if (nccl && !nccl_can_run()) return;
  for (bool overlap : {true, false}) {
    INFO("overlap_communication " << overlap);
    manual_seed(21);
    auto on_cpu = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::ReLU>(),
                                                   std::make_shared<nn::Linear>(16, 3));
    auto on_gpu = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::ReLU>(),
                                                   std::make_shared<nn::Linear>(16, 3));
    const auto options = nn::DistributedDataParallelOptions().overlap_communication(overlap).first_bucket_bytes(1).bucket_cap_bytes(1);
    nn::DistributedDataParallel cpu_ddp(*on_cpu, options);
    on_gpu->load_state_dict(on_cpu->state_dict());
    on_gpu->to(gpu_of_this_rank());
    nn::DistributedDataParallel gpu_ddp(*on_gpu, options);
    Generator data(300 + static_cast<uint64_t>(dist::rank()));
    Tensor x = randn({8, 6}, {}, &data), labels = randint(0, 3, {8}, kInt64, &data);
    nn::functional::cross_entropy(cpu_ddp(x), labels).backward();
    nn::functional::cross_entropy(gpu_ddp(x.to(gpu_of_this_rank())), labels.to(gpu_of_this_rank())).backward();
    const auto expected = on_cpu->parameters(), got = on_gpu->parameters();
    for (size_t i = 0; i < expected.size(); ++i)
      focus::testing::check_parity(expected[i].grad(), got[i].grad(), focus::testing::kReductionTolerance,
                                   "gradient " + std::to_string(i));
  }
}
