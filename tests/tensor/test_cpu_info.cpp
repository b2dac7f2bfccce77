// CPU detection, the choice of kernel build, the OpenBLAS core focus loads, and
// focus::config() (tensor/cpu_info.h, tensor/openblas.h, tensor/config.h).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "tensor/config.h"
#include "tensor/cpu_info.h"
#include "tensor/openblas.h"

using namespace focus;

namespace {

int isa_level(const std::string& isa) {
  if (isa == "avx512") return 3;
  if (isa == "avx2") return 2;
  if (isa == "avx") return 1;
  return 0;  // "sse", "unknown"
}

}  // namespace

TEST_CASE("capability names round-trip through FOCUS_CPU_CAPABILITY's spelling", "[cpu]") {
  for (CpuCapability c : {CpuCapability::Default, CpuCapability::AVX2, CpuCapability::AVX512}) {
    if (capability_compiled(c) && c <= best_cpu_capability())
      REQUIRE(requested_cpu_capability(capability_name(c)) == c);
  }
  REQUIRE(std::string(capability_name(CpuCapability::AVX512)) == "avx512");
  REQUIRE(requested_cpu_capability("default") == CpuCapability::Default);
}

TEST_CASE("an unknown or unsupported capability is refused with the reason", "[cpu]") {
  REQUIRE_THROWS_WITH(requested_cpu_capability("avx1024"),
                      Catch::Contains("avx1024") && Catch::Contains("avx512, avx2 or default"));
  if (best_cpu_capability() < CpuCapability::AVX512) {
    REQUIRE_THROWS_WITH(requested_cpu_capability("avx512"), Catch::Contains("avx512"));
    REQUIRE_THROWS_WITH(set_cpu_capability(CpuCapability::AVX512), Catch::Contains("avx512"));
  }
}

TEST_CASE("the best capability matches the CPU's features", "[cpu]") {
  const CpuInfo& cpu = cpu_info();
  const CpuCapability best = best_cpu_capability();
  INFO("CPU " << cpu.model_name << ", best build " << capability_name(best));
#if defined(__x86_64__)
  REQUIRE(!cpu.vendor.empty());
  REQUIRE(!cpu.model_name.empty());
  const bool avx512 = cpu.has("avx512f") && cpu.has("avx512bw") && cpu.has("avx512vl") && cpu.has("avx512dq");
  const bool avx2 = cpu.has("avx2") && cpu.has("fma") && cpu.has("f16c");
  const CpuCapability level = cpu_instruction_level();
  if (avx512 && avx2) REQUIRE(level == CpuCapability::AVX512);
  if (!avx512 && avx2) REQUIRE(level == CpuCapability::AVX2);
  if (!avx2) REQUIRE(level == CpuCapability::Default);
  // With FOCUS_CPU_DISPATCH (the default on x86-64) all three builds are there and the best one runs.
  if (capability_compiled(CpuCapability::AVX512)) REQUIRE(best == level);
  else REQUIRE(best == CpuCapability::Default);
#endif
  // What the suite runs with: the best, unless FOCUS_CPU_CAPABILITY says otherwise.
  const char* forced = std::getenv("FOCUS_CPU_CAPABILITY");
  REQUIRE(cpu_capability() == (forced && *forced ? requested_cpu_capability(forced) : best));
}

TEST_CASE("OpenBLAS runs kernels of the CPU's own instruction set", "[cpu][blas]") {
  const OpenBlas& blas = openblas();
  INFO("OpenBLAS " << blas.build_config << ", core " << blas.core << ", chosen by " << blas.coretype_source);
  REQUIRE(blas.sgemm != nullptr);
  REQUIRE(!blas.core.empty());
  const CpuCapability level = cpu_instruction_level();
  const int wanted = level == CpuCapability::AVX512 ? 3 : level == CpuCapability::AVX2 ? 2 : 0;
  if (blas.coretype_source.find("outside focus") != std::string::npos) {
    // The user's OPENBLAS_CORETYPE wins over focus's choice; config() says so.
    WARN("OPENBLAS_CORETYPE was set outside focus: core " << blas.core << " is the user's choice");
    REQUIRE(config().find("outside focus") != std::string::npos);
  } else {
    REQUIRE(isa_level(openblas_core_isa(blas.core)) >= wanted);
  }

  // And the GEMM through the loaded library computes: [2, 3] · [3, 2].
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  float c[4] = {};
  blas.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
  REQUIRE(c[0] == 58.0f);
  REQUIRE(c[1] == 64.0f);
  REQUIRE(c[2] == 139.0f);
  REQUIRE(c[3] == 154.0f);
}

TEST_CASE("OpenBLAS core names map to their instruction sets", "[cpu][blas]") {
  REQUIRE(openblas_core_isa("SkylakeX") == "avx512");
  REQUIRE(openblas_core_isa("Cooperlake") == "avx512");
  REQUIRE(openblas_core_isa("Haswell") == "avx2");
  REQUIRE(openblas_core_isa("Zen") == "avx2");
  REQUIRE(openblas_core_isa("Sandybridge") == "avx");
  REQUIRE(openblas_core_isa("Prescott") == "sse");
  REQUIRE(openblas_core_isa("Nonsense") == "unknown");
}

TEST_CASE("config() names the CPU, the kernel build, the BLAS core and the threads", "[cpu]") {
  const std::string text = config();
  INFO(text);
  const auto fields = config_fields();
  for (const char* key : {"cpu", "cpu_features", "cpu_capability", "blas", "blas_core", "blas_core_source",
                          "threads", "cuda"})
    REQUIRE(fields.count(key) == 1);
  REQUIRE(text.find(capability_name(cpu_capability())) != std::string::npos);
  REQUIRE(text.find(openblas().core) != std::string::npos);
  REQUIRE(text.find("OpenBLAS") != std::string::npos);
  if (!cpu_info().model_name.empty()) REQUIRE(text.find(cpu_info().model_name) != std::string::npos);
}
