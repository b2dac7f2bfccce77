#pragma once
// Sums and maxima over a group of threads that share one row: a single thread (kGroup = 1),
// a warp (kGroup = 32, the rows of a block are its warps) or a whole block (kGroup =
// blockDim.x, a multiple of 32, one row per block). Used by the row-wise kernels of layer norm, batch norm and
// cross-entropy. Every thread of the group must call these (the callers' row loops
// are uniform across the group), and every thread gets the result.
#include <cuda_runtime.h>

namespace focus::cuda {

template <typename V>
__device__ inline V warp_sum(V value) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

/// max that lets NaN win (either side), as the CPU's cpu::beats does.
template <typename V>
__device__ inline V nan_max(V a, V b) {
  return (a > b || a != a) ? a : b;
}

template <typename V>
__device__ inline V warp_max(V value) {
  for (int offset = 16; offset > 0; offset >>= 1) value = nan_max(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

/// Σ value over the group. `shared` holds kGroup / 32 values (unused below a block). The
/// leading __syncthreads lets a block call this repeatedly with one `shared`: nobody
/// overwrites it until everyone has read the previous result.
template <int kGroup, typename V>
__device__ inline V group_sum(V value, V* shared) {
  if constexpr (kGroup == 1) {
    return value;
  } else if constexpr (kGroup == 32) {
    return warp_sum(value);
  } else {
    value = warp_sum(value);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = value;
    __syncthreads();
    V total = shared[0];
    for (int w = 1; w < kGroup / 32; ++w) total += shared[w];
    return total;
  }
}

/// max over the group (NaN wins); `shared` as for group_sum.
template <int kGroup, typename V>
__device__ inline V group_max(V value, V* shared) {
  if constexpr (kGroup == 1) {
    return value;
  } else if constexpr (kGroup == 32) {
    return warp_max(value);
  } else {
    value = warp_max(value);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = value;
    __syncthreads();
    V best = shared[0];
    for (int w = 1; w < kGroup / 32; ++w) best = nan_max(best, shared[w]);
    return best;
  }
}

}  // namespace focus::cuda
