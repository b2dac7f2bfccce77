#pragma once
// What focus runs on, in one place: the CPU, the kernel build chosen for it, the BLAS
// library and its kernels, threads, CUDA. Like torch.__config__.show(): both examples print
// it at start and write its fields into summary.json, so every number comes with its setting.
#include <map>
#include <string>

namespace focus {

/// A few lines of text describing the configuration (loads OpenBLAS if not yet loaded).
std::string config();

/// The same as named fields: cpu, cpu_features, cpu_capability, blas, blas_core, blas_core_source,
/// threads, cuda.
std::map<std::string, std::string> config_fields();

}  // namespace focus
