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
