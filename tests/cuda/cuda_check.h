#pragma once
// What the CUDA tests share: skipping where there is no GPU, and comparing a GPU
// result with the CPU's on the same inputs.
//
// Without a GPU (or in a build without CUDA) a test program calls require_gpu_or_skip()
// first and exits with code 4, which CTest reports as "skipped" (SKIP_RETURN_CODE),
// never as "passed".
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tensor/cuda/backend.h"
#include "tensor/tensor.h"

namespace focus::testing {

inline void require_gpu_or_skip() {
  if (cuda::is_available()) return;
  std::fprintf(stderr, "skipped: %s\n",
#ifdef FOCUS_WITH_CUDA
               "built with CUDA, but no GPU is visible on this machine"
#else
               "this build has no CUDA backend (-DFOCUS_CUDA=OFF)"
#endif
  );
  std::exit(4);
}

/// The GPU every CUDA test runs on.
inline Device gpu() { return Device::cuda(0); }

/// max |expected − actual| / max |expected| (normwise relative error; absolute when
/// `expected` is all zeros). `actual` may live on the GPU; shapes and dtypes must match.
inline double relative_error(const Tensor& expected, const Tensor& actual) {
  REQUIRE(expected.shape() == actual.shape());
  REQUIRE(expected.dtype() == actual.dtype());
  const std::vector<double> x = expected.to(kCPU).to_vector<double>(), y = actual.to(kCPU).to_vector<double>();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(x[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

/// Tolerances of the CUDA parity tests (float32): elementwise ops, and reductions or GEMM-based ops.
constexpr double kElementwiseTolerance = 1e-5;
constexpr double kReductionTolerance = 1e-4;

/// CHECKs that the GPU result equals the CPU result within `tolerance`, naming `what`.
inline void check_parity(const Tensor& cpu_result, const Tensor& gpu_result, double tolerance, const std::string& what) {
  INFO(what);
  REQUIRE(gpu_result.device().is_cuda());
  CHECK(relative_error(cpu_result, gpu_result) <= tolerance);
}

}  // namespace focus::testing
