// Random masks. The generator is advanced by one draw per call, which becomes
// the key of a counter-based stream: element i's random bits are
// splitmix64(key, i). So the mask depends only on the seed, never on the number
// of threads, and chunks of it can be filled in parallel.
#include <fmt/format.h>

#include <cstdint>

#include "tensor/cpu/loops.h"
#include "tensor/kernels.h"

namespace focus::kernels {

namespace {

/// SplitMix64's output function (Steele, Lea & Flood 2014) on the index-th step of
/// a stream: a bijective 64-bit mix that passes BigCrush on consecutive inputs.
inline uint64_t splitmix64(uint64_t key, uint64_t index) {
  uint64_t z = key + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Tensor bernoulli(const Shape& shape, double p, Generator& gen, Device device) {
  if (!(p >= 0.0 && p <= 1.0))  // also rejects NaN
    throw std::invalid_argument(fmt::format("bernoulli: probability must be in [0, 1], got {}", p));
  Tensor mask = empty(shape, TensorOptions(kBool));
  const uint64_t key = gen.engine()();
  // u = top 53 bits / 2^53 is uniform on [0, 1) like Generator::uniform(); u < p  <=>  bits < p * 2^53.
  const uint64_t threshold = static_cast<uint64_t>(p * 9007199254740992.0);
  bool* out = mask.data<bool>();
  parallel_for(0, mask.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = (splitmix64(key, static_cast<uint64_t>(i)) >> 11) < threshold;
  });
  if (device.is_cpu()) return mask;
  Tensor on_device = empty(shape, TensorOptions(kBool).with_device(device));
  copy(on_device, mask);
  return on_device;
}

}  // namespace focus::kernels
