#pragma once
// Small helpers that many test files need: seeded random inputs and the largest
// elementwise difference of two tensors (for comparisons against references).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/generator.h"
#include "tensor/kernels.h"
#include "tensor/tensor.h"

namespace focus::testing {

/// Standard-normal values of `shape`, reproducible from `seed` (float64 by default, for gradcheck).
inline Tensor random(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  Generator gen(seed);
  return randn(shape, dtype, &gen);
}

/// random(shape, seed) as a leaf that requires its gradient.
inline Tensor random_leaf(const Shape& shape, uint64_t seed) { return random(shape, seed).requires_grad_(); }

/// max |a − b| over all elements, in double; the shapes must be equal.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

/// A Conv2d geometry with the same padding before and after (dilation and groups optional).
inline kernels::Conv2dParams conv_params(int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                         int64_t dilation = 1, int64_t groups = 1) {
  kernels::Conv2dParams p;
  p.stride_h = stride_h, p.stride_w = stride_w;
  p.pad_top = p.pad_bottom = pad_h;
  p.pad_left = p.pad_right = pad_w;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

}  // namespace focus::testing
