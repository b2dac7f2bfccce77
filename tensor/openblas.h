#pragma once
// OpenBLAS, loaded by focus itself at the first GEMM.
//
// OpenBLAS picks its kernels ("core") from CPUID when it loads, and a release only knows the
// CPUs that came before it: Debian's 0.3.21 falls back to SSE3 ("Prescott") on newer Intel
// Xeons, 4-5x slower. Its choice can only be changed through OPENBLAS_CORETYPE before it
// initialises, so focus does not link it: it sets OPENBLAS_CORETYPE from the CPU's own
// instruction sets (unless the user set it), then loads the library with dlopen.
#include <cblas.h>

#include <string>

namespace focus {

/// The loaded library: the entry points focus calls, and what it says about itself.
struct OpenBlas {
  decltype(&cblas_sgemm) sgemm = nullptr;
  decltype(&cblas_dgemm) dgemm = nullptr;
  decltype(&cblas_sgemv) sgemv = nullptr;
  decltype(&cblas_dgemv) dgemv = nullptr;
  decltype(&cblas_sdot) sdot = nullptr;
  decltype(&cblas_ddot) ddot = nullptr;
  void (*set_num_threads)(int) = nullptr;

  std::string path;          ///< the file loaded
  std::string core;          ///< openblas_get_corename(): the kernels in use, e.g. "Haswell", "SkylakeX"
  std::string build_config;  ///< openblas_get_config(): version and build options
  std::string coretype_source;  ///< who chose the core: "OPENBLAS_CORETYPE set by the user", "focus (CPU has AVX2)", ...
};

/// OpenBLAS, loaded on first use (throws, naming the files tried, when it cannot be loaded).
const OpenBlas& openblas();

/// The instruction set an OpenBLAS core's kernels use: "avx512", "avx2", "avx", "sse" or
/// "unknown" (for cores this table does not list).
std::string openblas_core_isa(const std::string& core);

/// The OpenBLAS core focus asks for on this CPU ("SkylakeX", "Zen", "Haswell"), or "" to let
/// OpenBLAS choose (CPUs without AVX2).
std::string preferred_openblas_core();

}  // namespace focus
