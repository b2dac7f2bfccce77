// Random masks. The generator is advanced by one draw per call, which becomes the
// key of a counter-based stream: element i's random bits are word i % 4 of the
// Philox4x32-10 block philox_block(key, i / 4) (tensor/philox.h). So the mask
// depends only on the seed, never on the number of threads, and chunks of it can
// be filled in parallel. tensor/cuda/random.cu computes the very same function on
// the GPU: one seed gives the SAME mask on the CPU and the GPU, which makes whole
// models with dropout comparable across devices.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "tensor/cpu/loops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"
#include "tensor/philox.h"

namespace focus::kernels::FOCUS_CPU_VARIANT {  // compiled once per instruction set: see tensor/kernels.h

Tensor bernoulli(const Shape& shape, double p, Generator& gen, Device device) {
  if (!(p >= 0.0 && p <= 1.0))  // also rejects NaN
    throw std::invalid_argument(fmt::format("bernoulli: probability must be in [0, 1], got {}", p));
  FOCUS_DISPATCH(device, bernoulli(shape, p, gen, device));
  Tensor mask = empty(shape, TensorOptions(kBool));
  const uint64_t key = gen.engine()();
  // u = bits / 2^32 is uniform on [0, 1); u < p  <=>  bits < p · 2^32 (2^32 itself when p = 1: always).
  const uint64_t threshold = static_cast<uint64_t>(p * 4294967296.0);
  bool* out = mask.data<bool>();
  const int64_t n = mask.numel(), groups = (n + 3) / 4;
  parallel_for(0, groups, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t group = begin; group < end; ++group) {
      const PhiloxBlock bits = philox_block(key, static_cast<uint64_t>(group));
      const int64_t first = group * 4, count = std::min<int64_t>(4, n - first);
      for (int64_t k = 0; k < count; ++k) out[first + k] = bits.word[k] < threshold;
    }
  });
  return mask;
}

}  // namespace focus::kernels::FOCUS_CPU_VARIANT
