// Random masks drawn on the GPU. Like the CPU (tensor/cpu/random.cpp), the generator is
// advanced by one draw per call, which becomes the Philox key, and element i's bits are
// word i % 4 of philox_block(key, i / 4) (tensor/philox.h): the same function of the same
// numbers on both devices, so one seed gives the SAME mask on the CPU and the GPU.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/philox.h"

namespace focus::cuda {

namespace {

// mask [n] (Bool, one byte each) = bits(i) < threshold: one thread per block of four elements,
// which one Philox call fills. A full group is stored as one 32-bit word when `mask` is 4-byte
// aligned (a fresh allocation always is), so a warp writes 128 contiguous bytes at once.
__global__ void bernoulli_kernel(int64_t n, uint64_t key, uint64_t threshold, bool aligned, bool* mask) {
  const int64_t groups = (n + 3) / 4;
  for (int64_t group = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; group < groups;
       group += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const PhiloxBlock bits = philox_block(key, static_cast<uint64_t>(group));
    const int64_t first = group * 4;
    if (aligned && first + 4 <= n) {
      uint32_t packed = 0;  // little-endian: element first + k is byte k
      for (int k = 0; k < 4; ++k) packed |= static_cast<uint32_t>(bits.word[k] < threshold) << (8 * k);
      reinterpret_cast<uint32_t*>(mask)[group] = packed;
    } else {
      for (int k = 0; k < 4 && first + k < n; ++k) mask[first + k] = bits.word[k] < threshold;
    }
  }
}

}  // namespace

Tensor bernoulli(const Shape& shape, double p, Generator& gen, Device device) {
  Tensor mask = empty(shape, TensorOptions(kBool).with_device(device));
  // The key is drawn exactly as on the CPU (one draw per call), even for an empty mask.
  const uint64_t key = gen.engine()();
  // u = bits / 2^32 is uniform on [0, 1); u < p  <=>  bits < p · 2^32 (2^32 itself when p = 1: always).
  const uint64_t threshold = static_cast<uint64_t>(p * 4294967296.0);
  const int64_t n = mask.numel();
  if (n == 0) return mask;
  bool* out = mask.data<bool>();
  const bool aligned = reinterpret_cast<uintptr_t>(out) % 4 == 0;
  bernoulli_kernel<<<blocks_for((n + 3) / 4), kThreads, 0, stream()>>>(n, key, threshold, aligned, out);
  FOCUS_CUDA_CHECK_LAUNCH("bernoulli_kernel");
  return mask;
}

}  // namespace focus::cuda
