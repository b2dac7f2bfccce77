#include "tensor/cpu_info.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define FOCUS_X86 1
#endif

namespace focus {

namespace {

#ifdef FOCUS_X86
struct Registers {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Registers cpuid(unsigned leaf, unsigned subleaf = 0) {
  Registers r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

CpuInfo read_cpu_info() {
  CpuInfo info;
  const Registers leaf0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &leaf0.ebx, 4);
  std::memcpy(vendor + 4, &leaf0.edx, 4);
  std::memcpy(vendor + 8, &leaf0.ecx, 4);
  info.vendor = vendor;

  const Registers leaf1 = cpuid(1);
  const int base_family = (leaf1.eax >> 8) & 0xf, base_model = (leaf1.eax >> 4) & 0xf;
  info.family = base_family == 0xf ? base_family + static_cast<int>((leaf1.eax >> 20) & 0xff) : base_family;
  info.model = (base_family == 0x6 || base_family == 0xf) ? base_model + static_cast<int>(((leaf1.eax >> 16) & 0xf) << 4)
                                                          : base_model;

  if (cpuid(0x80000000).eax >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Registers r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    std::string name = brand;
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    info.model_name = name;
  }

  // libgcc's checks include the OS's part (XGETBV: the AVX and AVX-512 register state is enabled).
  __builtin_cpu_init();
#define FOCUS_FEATURE(name) \
  if (__builtin_cpu_supports(name)) info.features.emplace_back(name)
  FOCUS_FEATURE("sse4.2");
  FOCUS_FEATURE("avx");
  FOCUS_FEATURE("avx2");
  FOCUS_FEATURE("fma");
#ifdef __clang__  // clang's __builtin_cpu_supports does not know this name: CPUID leaf 1, ECX bit 29
  if (((leaf1.ecx >> 29) & 1) && __builtin_cpu_supports("avx")) info.features.emplace_back("f16c");
#else
  FOCUS_FEATURE("f16c");
#endif
  FOCUS_FEATURE("avx512f");
  FOCUS_FEATURE("avx512bw");
  FOCUS_FEATURE("avx512vl");
  FOCUS_FEATURE("avx512dq");
  FOCUS_FEATURE("avx512vnni");
  FOCUS_FEATURE("avx512bf16");
#undef FOCUS_FEATURE
  return info;
}

}  // namespace

// The levels are those -march=x86-64-v3 and -v4 compile for.
CpuCapability cpu_instruction_level() {
  __builtin_cpu_init();
#ifdef __clang__
  // clang (the fuzzing build) does not know the level names; these features define the levels
  // (v3 also has F16C, MOVBE and LZCNT, which every CPU with AVX2 and BMI2 has).
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
                  __builtin_cpu_supports("bmi2");
  const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl");
#else
  const bool v3 = __builtin_cpu_supports("x86-64-v3"), v4 = __builtin_cpu_supports("x86-64-v4");
#endif
  if (v4) return CpuCapability::AVX512;
  if (v3) return CpuCapability::AVX2;
  return CpuCapability::Default;
}
#else
CpuInfo read_cpu_info() { return {}; }
}  // namespace

CpuCapability cpu_instruction_level() { return CpuCapability::Default; }
#endif

namespace {

/// What keeps `capability` from running here, or "" when it can.
std::string why_not(CpuCapability capability) {
  if (!capability_compiled(capability))
    return fmt::format("this build of focus has no {} kernels (they are compiled on x86-64 only)",
                       capability_name(capability));
  if (capability > cpu_instruction_level()) {
    const char* needs = capability == CpuCapability::AVX512 ? "AVX-512 F, BW, VL and DQ (x86-64-v4)"
                                                            : "AVX2, FMA, F16C and BMI2 (x86-64-v3)";
    return fmt::format("this CPU ({}) lacks {}", cpu_info().model_name.empty() ? "unknown" : cpu_info().model_name,
                       needs);
  }
  return "";
}

CpuCapability parse_capability(const std::string& value) {
  for (CpuCapability c : {CpuCapability::Default, CpuCapability::AVX2, CpuCapability::AVX512})
    if (value == capability_name(c)) return c;
  throw std::invalid_argument(
      fmt::format("FOCUS_CPU_CAPABILITY={}: unknown instruction set; use avx512, avx2 or default", value));
}

CpuCapability choose_capability() {
  const char* forced = std::getenv("FOCUS_CPU_CAPABILITY");
  if (!forced || !*forced) return best_cpu_capability();
  return requested_cpu_capability(forced);
}

// -1 until the first kernel call chooses.
std::atomic<int> chosen_capability{-1};

}  // namespace

const char* capability_name(CpuCapability capability) {
  switch (capability) {
    case CpuCapability::AVX512: return "avx512";
    case CpuCapability::AVX2: return "avx2";
    case CpuCapability::Default: break;
  }
  return "default";
}

CpuCapability requested_cpu_capability(const std::string& value) {
  const CpuCapability capability = parse_capability(value);
  if (const std::string reason = why_not(capability); !reason.empty())
    throw std::runtime_error(fmt::format("FOCUS_CPU_CAPABILITY={}: {}; choose {} or below", value, reason,
                                         capability_name(best_cpu_capability())));
  return capability;
}

bool CpuInfo::has(const std::string& feature) const {
  return std::find(features.begin(), features.end(), feature) != features.end();
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = read_cpu_info();
  return info;
}

bool capability_compiled(CpuCapability capability) {
#ifdef FOCUS_CPU_DISPATCH
  return true;
#else
  return capability == CpuCapability::Default;
#endif
}

CpuCapability best_cpu_capability() {
  CpuCapability best = cpu_instruction_level();
  while (!capability_compiled(best)) best = static_cast<CpuCapability>(static_cast<int>(best) - 1);
  return best;
}

CpuCapability cpu_capability() {
  int chosen = chosen_capability.load(std::memory_order_relaxed);
  if (chosen < 0) {
    chosen = static_cast<int>(choose_capability());
    chosen_capability.store(chosen, std::memory_order_relaxed);
  }
  return static_cast<CpuCapability>(chosen);
}

void set_cpu_capability(CpuCapability capability) {
  if (const std::string reason = why_not(capability); !reason.empty())
    throw std::invalid_argument(fmt::format("set_cpu_capability({}): {}", capability_name(capability), reason));
  chosen_capability.store(static_cast<int>(capability), std::memory_order_relaxed);
}

}  // namespace focus
