#pragma once
// FOCUS_CPU_VARIANT names the kernel build a file is compiled into: avx512, avx2 or
// baseline. CMakeLists.txt compiles tensor/cpu/*.cpp once per name, with the matching
// -march flags; every other file (and every program built against focus) is baseline.
// The kernels and their helpers live in an inline namespace of that name, so the three
// builds' symbols never collide (focus::kernels::avx2::add, focus::cpu::avx2::map, ...).
#ifndef FOCUS_CPU_VARIANT
#define FOCUS_CPU_VARIANT baseline
#endif

namespace focus::cpu::inline FOCUS_CPU_VARIANT {

/// Whether this kernel build may run its hand-written AVX2 + FMA code (the packed convolution,
/// max pooling's vector rows, batch norm's sums): always in the AVX2 and AVX-512 builds, never
/// in the baseline one when those exist (it runs only where AVX2 is missing or was refused
/// with FOCUS_CPU_CAPABILITY=default), and where the CPU has them in a baseline-only build.
inline bool avx2_fma_usable() {
#if defined(FOCUS_CPU_VARIANT_BUILD)
  return true;
#elif defined(FOCUS_CPU_DISPATCH)
  return false;
#elif defined(__x86_64__)
  static const bool usable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return usable;
#else
  return false;
#endif
}

}  // namespace focus::cpu::FOCUS_CPU_VARIANT
