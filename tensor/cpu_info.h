#pragma once
// What the processor can do, and which of focus's kernel builds runs on it.
//
// The CPU kernels (tensor/cpu/*.cpp) are compiled once per instruction set: baseline
// x86-64 (SSE2, runs anywhere), AVX2 (x86-64-v3: AVX2, FMA, F16C, BMI) and AVX-512
// (x86-64-v4: F, BW, VL, DQ). At the first kernel call focus picks the best build the
// CPU supports, as PyTorch's ATEN_CPU_CAPABILITY does; FOCUS_CPU_CAPABILITY=avx512|avx2|default
// forces one (for tests and comparisons). tensor/dispatch.h sends each call there.
#include <string>
#include <vector>

namespace focus {

/// The kernel builds, from the most portable up.
enum class CpuCapability { Default = 0, AVX2 = 1, AVX512 = 2 };

/// "default", "avx2" or "avx512" (the spelling FOCUS_CPU_CAPABILITY takes).
const char* capability_name(CpuCapability capability);

/// The processor as CPUID describes it.
struct CpuInfo {
  std::string vendor;  ///< "GenuineIntel", "AuthenticAMD", ... ("" off x86)
  std::string model_name;  ///< the brand string, e.g. "AMD EPYC 7763 64-Core Processor"
  int family = 0, model = 0;  ///< display family and model
  std::vector<std::string> features;  ///< the vector extensions it has and the OS enables: "avx2", "fma", "avx512f", ...
  bool has(const std::string& feature) const;
};

/// This processor (read once).
const CpuInfo& cpu_info();

/// The highest of the three instruction-set levels this CPU (and OS) supports, whatever this
/// library contains: what OpenBLAS's kernels should match.
CpuCapability cpu_instruction_level();

/// The best kernel build this CPU runs and this library contains.
CpuCapability best_cpu_capability();

/// The kernel build in use: FOCUS_CPU_CAPABILITY if set (an unknown value, or one the CPU
/// or this build cannot run, throws an error saying which are possible), else the best one.
CpuCapability cpu_capability();

/// The capability FOCUS_CPU_CAPABILITY=`value` asks for ("avx512", "avx2" or "default"), checked:
/// an unknown name, or one that this CPU or build cannot run, throws an error that says why.
CpuCapability requested_cpu_capability(const std::string& value);

/// Makes later kernel calls use `capability` (tests compare the builds this way). Throws,
/// naming what is missing, when the CPU or this build cannot run it.
void set_cpu_capability(CpuCapability capability);

/// Whether this library holds a kernel build for `capability` (x86-64 builds hold all three).
bool capability_compiled(CpuCapability capability);

}  // namespace focus
