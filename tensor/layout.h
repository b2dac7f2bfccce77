#pragma once
// Broadcast strides and dimension merging: how an elementwise loop walks several
// operands at once. Shared by the CPU loops (tensor/cpu/loops.h) and the CUDA
// indexers (tensor/cuda/common.cuh), so both backends see the same layout.
#include <array>
#include <cstddef>

#include "tensor/tensor.h"

namespace focus {

/// Strides of `t` viewed as broadcast to `shape` (0 where t has size 1 or lacks the dim).
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape strides(shape.size(), 0);
  size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    strides[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return strides;
}

/// Shape and per-operand strides after dropping size-1 dims and merging contiguous runs.
template <size_t N>
struct StridedLayout {
  Shape shape;
  std::array<Shape, N> strides;
};

template <size_t N>
StridedLayout<N> coalesce(const Shape& shape, const std::array<Shape, N>& strides) {
  StridedLayout<N> out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !out.shape.empty();
    for (size_t k = 0; k < N && merge; ++k)
      merge = out.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      out.shape.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) out.strides[k].back() = strides[k][d];
    } else {
      out.shape.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) out.strides[k].push_back(strides[k][d]);
    }
  }
  if (out.shape.empty()) {  // a single element
    out.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) out.strides[k].push_back(0);
  }
  return out;
}

}  // namespace focus
