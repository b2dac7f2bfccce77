#include "tensor/openblas.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "tensor/cpu_info.h"

namespace focus {

namespace {

template <typename Fn>
void bind(void* library, const std::string& path, const char* symbol, Fn& target) {
  void* address = dlsym(library, symbol);
  if (!address) throw std::runtime_error(fmt::format("focus: {} has no symbol {}; is it OpenBLAS?", path, symbol));
  target = reinterpret_cast<Fn>(address);
}

OpenBlas load() {
  OpenBlas blas;
  // The user's (or the system's) choice wins; else the core that matches the CPU.
  if (const char* user = std::getenv("OPENBLAS_CORETYPE"); user && *user) {
    blas.coretype_source = fmt::format("OPENBLAS_CORETYPE={} set outside focus", user);
  } else if (const std::string core = preferred_openblas_core(); !core.empty()) {
    setenv("OPENBLAS_CORETYPE", core.c_str(), 0);
    blas.coretype_source = fmt::format("focus set OPENBLAS_CORETYPE={} (CPU supports {})", core,
                                       capability_name(cpu_instruction_level()));
  } else {
    blas.coretype_source = "OpenBLAS's own CPU detection";
  }

  // The OpenMP build first (it shares focus's thread pool: cmake/FindFocusBLAS.cmake), then whatever
  // the loader finds.
  std::vector<std::string> candidates;
#ifdef FOCUS_OPENBLAS_PATH
  candidates.emplace_back(FOCUS_OPENBLAS_PATH);
#endif
  candidates.emplace_back("libopenblas.so.0");
  std::string errors;
  void* library = nullptr;
  for (const std::string& path : candidates) {
    library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library) {
      blas.path = path;
      break;
    }
    errors += fmt::format("\n  {}: {}", path, dlerror());
  }
  if (!library)
    throw std::runtime_error(fmt::format(
        "focus: cannot load OpenBLAS (apt-get install libopenblas0-openmp); tried:{}", errors));

  bind(library, blas.path, "cblas_sgemm", blas.sgemm);
  bind(library, blas.path, "cblas_dgemm", blas.dgemm);
  bind(library, blas.path, "cblas_sgemv", blas.sgemv);
  bind(library, blas.path, "cblas_dgemv", blas.dgemv);
  bind(library, blas.path, "cblas_sdot", blas.sdot);
  bind(library, blas.path, "cblas_ddot", blas.ddot);
  bind(library, blas.path, "openblas_set_num_threads", blas.set_num_threads);
  char* (*corename)() = nullptr;
  char* (*config)() = nullptr;
  bind(library, blas.path, "openblas_get_corename", corename);
  bind(library, blas.path, "openblas_get_config", config);
  blas.core = corename();
  blas.build_config = config();
  while (!blas.build_config.empty() && std::isspace(static_cast<unsigned char>(blas.build_config.back())))
    blas.build_config.pop_back();
  return blas;
}

}  // namespace

const OpenBlas& openblas() {
  static const OpenBlas blas = load();
  return blas;
}

std::string openblas_core_isa(const std::string& core) {
  std::string name = core;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  // OpenBLAS 0.3.x's x86-64 cores (driver/others/dynamic.c), by the widest vectors their kernels use.
  const std::vector<std::pair<std::vector<std::string>, std::string>> table = {
      {{"skylakex", "cooperlake", "sapphirerapids"}, "avx512"},
      {{"haswell", "zen", "excavator", "steamroller"}, "avx2"},
      {{"sandybridge", "bulldozer", "piledriver"}, "avx"},
      {{"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron", "opteron_sse3", "barcelona",
        "bobcat", "katmai", "coppermine", "northwood", "banias", "athlon", "nano"},
       "sse"},
  };
  for (const auto& [cores, isa] : table)
    if (std::find(cores.begin(), cores.end(), name) != cores.end()) return isa;
  return "unknown";
}

std::string preferred_openblas_core() {
  switch (cpu_instruction_level()) {
    case CpuCapability::AVX512: return "SkylakeX";
    case CpuCapability::AVX2: return cpu_info().vendor == "AuthenticAMD" ? "Zen" : "Haswell";
    case CpuCapability::Default: break;
  }
  return "";
}

}  // namespace focus
