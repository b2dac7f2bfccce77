#include "tensor/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <exception>

#include "tensor/cpu_info.h"
#include "tensor/cuda/backend.h"
#include "tensor/openblas.h"
#include "tensor/parallel.h"

namespace focus {

std::map<std::string, std::string> config_fields() {
  const CpuInfo& cpu = cpu_info();
  const OpenBlas& blas = openblas();
  std::map<std::string, std::string> fields;
  fields["cpu"] = fmt::format("{} ({} family {} model {})", cpu.model_name.empty() ? "unknown" : cpu.model_name,
                              cpu.vendor.empty() ? "unknown vendor" : cpu.vendor, cpu.family, cpu.model);
  fields["cpu_features"] = fmt::format("{}", fmt::join(cpu.features, " "));
  const char* forced = std::getenv("FOCUS_CPU_CAPABILITY");
  try {
    fields["cpu_capability"] = fmt::format(
        "{} ({}; best for this CPU: {})", capability_name(cpu_capability()),
        forced && *forced ? fmt::format("FOCUS_CPU_CAPABILITY={}", forced) : std::string("chosen at start"),
        capability_name(best_cpu_capability()));
  } catch (const std::exception& e) {  // a bad FOCUS_CPU_CAPABILITY: the first kernel call will refuse it
    fields["cpu_capability"] = fmt::format("none ({})", e.what());
  }
  fields["blas"] = fmt::format("{} ({})", blas.build_config, blas.path);
  fields["blas_core"] = fmt::format("{} ({} kernels)", blas.core, openblas_core_isa(blas.core));
  fields["blas_core_source"] = blas.coretype_source;
  fields["threads"] = fmt::format("{} (one OpenMP pool for focus and OpenBLAS)", get_num_threads());
  fields["cuda"] = cuda::is_available() ? fmt::format("{} GPU(s)", cuda::device_count())
#ifdef FOCUS_WITH_CUDA
                                        : std::string("built, no GPU visible");
#else
                                        : std::string("not built");
#endif
  return fields;
}

std::string config() {
  const auto f = config_fields();
  return fmt::format(
      "focus configuration\n"
      "  CPU:      {}\n"
      "            {}\n"
      "  kernels:  {}\n"
      "  BLAS:     {}\n"
      "            core {}: {}\n"
      "  threads:  {}\n"
      "  CUDA:     {}\n",
      f.at("cpu"), f.at("cpu_features"), f.at("cpu_capability"), f.at("blas"), f.at("blas_core"),
      f.at("blas_core_source"), f.at("threads"), f.at("cuda"));
}

}  // namespace focus
