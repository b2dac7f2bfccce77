// CUDA tensors against the CPU. On a machine without a GPU (or a build without
// CUDA) these report "skipped" to CTest (exit code 4), never "passed".
#include <catch2/catch.hpp>

#include "focus.h"
#include "tests/cuda/cuda_check.h"

using namespace focus;

using focus::testing::require_gpu_or_skip;

TEST_CASE("a tensor round-trips through GPU memory unchanged", "[cuda]") {
  require_gpu_or_skip();
  Tensor host = randn({3, 5}, kFloat64);
  Tensor device = host.to(Device::cuda());
  REQUIRE(device.device() == Device::cuda());
  REQUIRE(device.to(kCPU).to_vector<double>() == host.to_vector<double>());
}

TEST_CASE("a GPU index beyond the machine's devices is refused clearly", "[cuda]") {
  require_gpu_or_skip();
  REQUIRE_THROWS_WITH(zeros({2}).to(Device::cuda(cuda::device_count())), Catch::Contains("is not available"));
}

TEST_CASE("to_device on the tensor's own device returns it unchanged, with no copy", "[device]") {
  Tensor x = randn({2, 3});
  Tensor y = to_device(x, kCPU);
  CHECK(y.shares_storage(x));
#ifndef FOCUS_WITH_CUDA
  REQUIRE_THROWS_WITH(to_device(x, Device::cuda()), Catch::Contains("built without CUDA"));
  REQUIRE_THROWS_WITH(x.pin_memory(), Catch::Contains("built without CUDA"));
#endif
}

TEST_CASE("to_device carries gradients back to the tensor's own device", "[cuda]") {
  require_gpu_or_skip();
  Tensor x = randn({4, 5}, kFloat64).requires_grad_();
  Tensor on_gpu = to_device(x, focus::testing::gpu());
  REQUIRE(on_gpu.device().is_cuda());
  Tensor loss = sum(on_gpu * on_gpu);  // dloss/dx = 2x, computed on the GPU, sent back
  loss.backward();
  REQUIRE(x.grad().defined());
  REQUIRE(x.grad().device().is_cpu());
  CHECK(focus::testing::relative_error(x.detach() * 2.0, x.grad()) <= 1e-12);
}

TEST_CASE("pinned memory reaches the GPU intact, blocking or not", "[cuda]") {
  require_gpu_or_skip();
  Tensor host = randn({257, 33});
  Tensor pinned = host.pin_memory();
  REQUIRE(pinned.is_pinned());
  REQUIRE_FALSE(host.is_pinned());
  Tensor blocking = pinned.to(focus::testing::gpu());
  Tensor queued = pinned.to(focus::testing::gpu(), /*non_blocking=*/true);
  cuda::synchronize();
  CHECK(blocking.to(kCPU).to_vector<float>() == host.to_vector<float>());
  CHECK(queued.to(kCPU).to_vector<float>() == host.to_vector<float>());
}

TEST_CASE("the caching allocator reuses freed blocks and reports its memory", "[cuda]") {
  require_gpu_or_skip();
  cuda::synchronize();
  cuda::empty_cache();
  cuda::reset_peak_memory_stats(0);
  const cuda::MemoryStats before = cuda::memory_stats(0);
  {
    Tensor a = zeros({1024, 1024}, TensorOptions().with_device(focus::testing::gpu()));  // 4 MiB
    const cuda::MemoryStats held = cuda::memory_stats(0);
    CHECK(held.allocated_bytes >= before.allocated_bytes + (4u << 20));
    CHECK(held.peak_allocated_bytes >= held.allocated_bytes);
    CHECK(held.reserved_bytes >= held.allocated_bytes);
  }
  const cuda::MemoryStats freed = cuda::memory_stats(0);
  CHECK(freed.allocated_bytes == before.allocated_bytes);
  CHECK(freed.peak_allocated_bytes >= before.allocated_bytes + (4u << 20));
  const int64_t hits = freed.cache_hits;
  Tensor again = zeros({1024, 1024}, TensorOptions().with_device(focus::testing::gpu()));
  CHECK(cuda::memory_stats(0).cache_hits == hits + 1);  // the freed 4 MiB block, not cudaMalloc
  CHECK(again.to(kCPU).to_vector<float>() == std::vector<float>(1024 * 1024, 0.0f));  // reused memory is zeroed
  again = Tensor();
  cuda::empty_cache();
  CHECK(cuda::memory_stats(0).reserved_bytes < freed.reserved_bytes);
  CHECK_THAT(cuda::memory_summary(0), Catch::Contains("MiB peak in tensors"));
}

TEST_CASE("a DataLoader with a GPU device hands out batches already on the GPU", "[cuda]") {
  require_gpu_or_skip();
  class Images : public data::Dataset<data::ImageExample> {
   public:
    int64_t size() const override { return 10; }
    data::ImageExample get(int64_t index) const override {
      return {full({3, 4, 4}, static_cast<double>(index)), index % 3};
    }
  };
  auto images = std::make_shared<Images>();
  data::DataLoaderOptions options;
  options.batch_size = 4;
  options.device = focus::testing::gpu();
  data::DataLoader<data::ImageExample, data::ImageBatch> loader(images, options, data::collate_images);
  int64_t first = 0;
  for (data::ImageBatch& batch : loader.epoch(0)) {
    REQUIRE(batch.images.device().is_cuda());
    REQUIRE(batch.labels.device().is_cuda());
    std::vector<float> pixels = batch.images.to(kCPU).to_vector<float>();
    std::vector<int64_t> labels = batch.labels.to(kCPU).to_vector<int64_t>();
    for (int64_t i = 0; i < batch.size(); ++i) {
      CHECK(pixels[static_cast<size_t>(i * 48)] == static_cast<float>(first + i));
      CHECK(labels[static_cast<size_t>(i)] == (first + i) % 3);
    }
    first += batch.size();
  }
  CHECK(first == 10);
}
